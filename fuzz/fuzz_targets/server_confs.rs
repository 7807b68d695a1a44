#![no_main]
//! The servers' own config files (PHP-FPM pools, Apache MPM, nginx worker limits); the first
//! byte picks which.
use gateway_exporter::workers::fuzzing::{
    fpm_listen_address, parse_apache_limit, parse_fpm_pools, parse_nginx_limit,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    match pick % 4 {
        0 => {
            if let Ok(pools) = parse_fpm_pools(text) {
                for pool in pools {
                    if let Some(listen) = pool.listen {
                        fpm_listen_address(&listen);
                    }
                }
            }
        }
        1 => {
            parse_apache_limit(text);
        }
        2 => {
            parse_nginx_limit(text, 2);
        }
        _ => {
            fpm_listen_address(text);
        }
    }
});
