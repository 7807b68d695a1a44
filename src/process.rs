//! The `process_*` metrics every Go exporter has (client_golang's process collector), read
//! from `/proc/self` at each scrape, so the same dashboards and alerts (memory growth, fd
//! exhaustion, restarts) work for this exporter. They carry no `gateway_` prefix: register
//! them on a registry without one.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use std::path::{Path, PathBuf};

/// Adds the `process_*` families of this process to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector::new(Path::new("/proc/self"))));
}

/// Reads one process's directory under `/proc` on each scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    dir: PathBuf,
    /// `/proc/stat`'s `btime`, the boot time the start time is counted from.
    proc_stat: PathBuf,
    ticks_per_second: f64,
    page_size: f64,
}

/// What one read of the process directory found; a part that could not be read is `None`.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessSample {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    pub virtual_memory_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<i64>,
    pub max_fds: Option<i64>,
}

impl ProcessCollector {
    /// `dir` is a process's directory, e.g. `/proc/self`; `/proc/stat` is its sibling.
    pub fn new(dir: &Path) -> Self {
        let proc_root = dir.parent().unwrap_or(Path::new("/proc"));
        ProcessCollector {
            dir: dir.to_path_buf(),
            proc_stat: proc_root.join("stat"),
            // SAFETY: sysconf only reads a system constant; it has no memory preconditions.
            ticks_per_second: positive_or(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }, 100),
            // SAFETY: as above.
            page_size: positive_or(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }, 4096),
        }
    }

    pub fn sample(&self) -> ProcessSample {
        let mut sample = ProcessSample::default();
        if let Some(stat) = read(&self.dir.join("stat"))
            .as_deref()
            .and_then(StatFields::parse)
        {
            sample.cpu_seconds = Some((stat.utime + stat.stime) / self.ticks_per_second);
            sample.virtual_memory_bytes = Some(stat.vsize);
            sample.resident_memory_bytes = Some(stat.rss_pages * self.page_size);
            sample.start_time_seconds = read(&self.proc_stat)
                .as_deref()
                .and_then(boot_time)
                .map(|boot| boot + stat.starttime / self.ticks_per_second);
        }
        sample.open_fds = std::fs::read_dir(self.dir.join("fd"))
            .ok()
            .map(|entries| entries.count() as i64);
        sample.max_fds = read(&self.dir.join("limits"))
            .as_deref()
            .and_then(soft_open_files_limit);
        sample
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.sample();
        if let Some(v) = s.cpu_seconds {
            let counter = ConstCounter::new(v);
            let m = encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent.",
                Some(&Unit::Seconds),
                counter.metric_type(),
            )?;
            counter.encode(m)?;
        }
        let float_gauges = [
            (
                "process_resident_memory",
                "Resident set size.",
                Unit::Bytes,
                s.resident_memory_bytes,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size.",
                Unit::Bytes,
                s.virtual_memory_bytes,
            ),
            (
                "process_start_time",
                "Start time of the process since the Unix epoch.",
                Unit::Seconds,
                s.start_time_seconds,
            ),
        ];
        for (name, help, unit, value) in float_gauges {
            if let Some(v) = value {
                let gauge = ConstGauge::new(v);
                let m = encoder.encode_descriptor(name, help, Some(&unit), gauge.metric_type())?;
                gauge.encode(m)?;
            }
        }
        let int_gauges = [
            ("process_open_fds", "Open file descriptors.", s.open_fds),
            (
                "process_max_fds",
                "Limit on open file descriptors (soft RLIMIT_NOFILE).",
                s.max_fds,
            ),
        ];
        for (name, help, value) in int_gauges {
            if let Some(v) = value {
                let gauge = ConstGauge::new(v);
                let m = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                gauge.encode(m)?;
            }
        }
        Ok(())
    }
}

fn positive_or(value: libc::c_long, fallback: libc::c_long) -> f64 {
    (if value > 0 { value } else { fallback }) as f64
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The fields of `/proc/<pid>/stat` we need, in their raw units (ticks, bytes, pages).
#[derive(Debug, PartialEq)]
struct StatFields {
    utime: f64,
    stime: f64,
    starttime: f64,
    vsize: f64,
    rss_pages: f64,
}

impl StatFields {
    fn parse(text: &str) -> Option<StatFields> {
        // The command name (field 2) is in parentheses and may itself hold spaces and
        // parentheses: the fields we want come after the last ')'.
        let after_name = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // `fields[0]` is field 3 (state) of proc(5).
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        Some(StatFields {
            utime: field(14)?,
            stime: field(15)?,
            starttime: field(22)?,
            vsize: field(23)?,
            rss_pages: field(24)?,
        })
    }
}

/// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
fn boot_time(proc_stat: &str) -> Option<f64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits`; none when unlimited.
fn soft_open_files_limit(limits: &str) -> Option<i64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn stat_fields_survive_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (gw (x) y) S 1 4242 4242 0 -1 4194304 900 0 0 0 \
                    250 50 0 0 20 0 9 0 123456 104857600 2560 18446744073709551615";
        assert_eq!(
            StatFields::parse(stat),
            Some(StatFields {
                utime: 250.0,
                stime: 50.0,
                starttime: 123456.0,
                vsize: 104857600.0,
                rss_pages: 2560.0,
            })
        );
        assert_eq!(StatFields::parse("4242 (truncated) S 1 2"), None);
        assert_eq!(StatFields::parse("no parenthesis at all"), None);
    }

    #[test]
    fn a_fake_proc_directory_gives_exact_values() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("4242");
        std::fs::create_dir_all(dir.join("fd")).unwrap();
        for fd in ["0", "1", "2", "7"] {
            std::fs::write(dir.join("fd").join(fd), "").unwrap();
        }
        std::fs::write(
            dir.join("stat"),
            "4242 (gateway-export) S 1 4242 4242 0 -1 4194304 900 0 0 0 \
             250 50 0 0 20 0 9 0 1000 104857600 2560 18446744073709551615\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("limits"),
            "Limit                     Soft Limit           Hard Limit           Units\n\
             Max cpu time              unlimited            unlimited            seconds\n\
             Max open files            1024                 524288               files\n",
        )
        .unwrap();
        std::fs::write(root.path().join("stat"), "cpu  1 2 3\nbtime 1700000000\n").unwrap();
        let mut collector = ProcessCollector::new(&dir);
        collector.ticks_per_second = 100.0;
        collector.page_size = 4096.0;
        assert_eq!(
            collector.sample(),
            ProcessSample {
                cpu_seconds: Some(3.0),
                resident_memory_bytes: Some(2560.0 * 4096.0),
                virtual_memory_bytes: Some(104857600.0),
                start_time_seconds: Some(1700000010.0),
                open_fds: Some(4),
                max_fds: Some(1024),
            }
        );
    }

    #[test]
    fn unreadable_parts_are_left_out_not_invented() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stat"), "garbage").unwrap();
        std::fs::write(
            dir.join("limits"),
            "Max open files unlimited unlimited files\n",
        )
        .unwrap();
        assert_eq!(
            ProcessCollector::new(&dir).sample(),
            ProcessSample::default()
        );
    }

    #[test]
    fn this_process_reads_plausibly() {
        let s = ProcessCollector::new(Path::new("/proc/self")).sample();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
        assert!(s.resident_memory_bytes.unwrap() > 1e5);
        assert!(s.virtual_memory_bytes.unwrap() >= s.resident_memory_bytes.unwrap());
        assert!(s.open_fds.unwrap() >= 3);
        assert!(s.max_fds.unwrap() >= s.open_fds.unwrap());
        assert!(s.cpu_seconds.unwrap() >= 0.0);
    }
}
