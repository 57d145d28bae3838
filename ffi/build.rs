//! Link settings of libswitchboard.so: an explicit SONAME (Cargo sets none) and a version
//! script that exports only `sb_*` (docs/ABI.md "Names and symbols").

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let map = format!("{dir}/switchboard.map");
    println!("cargo:rerun-if-changed=switchboard.map");
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        // While on 0.x every minor release may break the ABI, so the SONAME carries it.
        let major = env_num("CARGO_PKG_VERSION_MAJOR");
        let minor = env_num("CARGO_PKG_VERSION_MINOR");
        let soname = if major == 0 {
            format!("libswitchboard.so.0.{minor}")
        } else {
            format!("libswitchboard.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={map}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}

fn env_num(key: &str) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
