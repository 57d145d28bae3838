//! Library and ABI versions (docs/ABI.md "Versioning"). The header's `SB_VERSION_*`
//! macros come from these constants; a test checks them against `CARGO_PKG_VERSION`.

use crate::status::sb_status;
use std::ffi::c_char;

/// Major version of this library (semantic versioning).
pub const SB_VERSION_MAJOR: u32 = 0;
/// Minor version; while the major is 0, each minor may break the ABI.
pub const SB_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const SB_VERSION_PATCH: u32 = 0;
/// `MAJOR * 1000000 + MINOR * 1000 + PATCH`, for `#if SB_VERSION_NUMBER >= ...` checks.
pub const SB_VERSION_NUMBER: u32 = 1000;
/// The ABI this header describes: `(major << 16) | minor` of the release that ships it, which
/// is also its SONAME (`0x0002` ships as `libswitchboard.so.0.2`). A change that breaks the
/// ABI bumps it at once, so between releases it may run one minor ahead of the package
/// version (docs/ABI.md "Versioning"). Pass it to `sb_endpoint_new`, which refuses any other
/// value.
pub const SB_ABI_VERSION: u32 = 0x0002;

static VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(
        "switchboard-ffi ",
        env!("CARGO_PKG_VERSION"),
        " (switchboard core ",
        env!("CARGO_PKG_VERSION"),
        ")\0"
    )
    .as_bytes(),
) {
    Ok(s) => s,
    Err(_) => c"switchboard-ffi",
};

/// The library version as static NUL-terminated text, e.g. `"switchboard-ffi 0.1.0
/// (switchboard core 0.1.0)"`. Never NULL; never freed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn sb_version() -> *const c_char {
    VERSION.as_ptr()
}

/// The ABI version of the loaded library (compare with the header's `SB_ABI_VERSION`).
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn sb_abi_version() -> u32 {
    SB_ABI_VERSION
}

/// The name of a status as static NUL-terminated text (`"SB_OK"`, `"SB_E_NOT_FOUND"`, ...),
/// or `"SB_E_UNKNOWN"` for a value this library does not define. Never NULL, never allocates,
/// thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn sb_status_name(status: u32) -> *const c_char {
    crate::boundary::value_call(c"SB_E_UNKNOWN".as_ptr(), || {
        sb_status::from_u32(status).map_or(c"SB_E_UNKNOWN".as_ptr(), |s| s.name().as_ptr())
    })
}

/// Copies the calling thread's last error message into `buf` with snprintf semantics: at most
/// `cap - 1` bytes plus a terminating NUL are written (nothing when `cap` is 0, then `buf` may
/// be NULL), and the full message length (without the NUL) is returned, so a return value
/// `>= cap` means the text was cut. The message is UTF-8 (a cut may split a character).
///
/// The message belongs to the calling thread: it is set by that thread's last failing `sb_*`
/// call and overwritten by its next failing call; successful calls leave it unchanged. Empty
/// (returns 0) before any failure. Returns 0 when `buf` is NULL with a non-zero `cap`.
#[unsafe(no_mangle)]
pub extern "C" fn sb_last_error_message(buf: *mut c_char, cap: usize) -> usize {
    crate::boundary::value_call(0, || match crate::boundary::out_bytes(buf.cast(), cap) {
        Ok(dst) => crate::status::copy_last_error(dst),
        Err(_) => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg_version() -> (u32, u32, u32) {
        let parse = |s: &str| s.parse::<u32>().unwrap();
        (
            parse(env!("CARGO_PKG_VERSION_MAJOR")),
            parse(env!("CARGO_PKG_VERSION_MINOR")),
            parse(env!("CARGO_PKG_VERSION_PATCH")),
        )
    }

    #[test]
    fn constants_match_the_package_version() {
        let (major, minor, patch) = pkg_version();
        assert_eq!(
            (SB_VERSION_MAJOR, SB_VERSION_MINOR, SB_VERSION_PATCH),
            (major, minor, patch)
        );
        assert_eq!(SB_VERSION_NUMBER, major * 1_000_000 + minor * 1_000 + patch);
        // The ABI of this package version's SONAME, or of the next release when an unreleased
        // change already broke the ABI (bumped at once; the release catches up).
        let (released, next) = if major == 0 {
            (minor, minor + 1)
        } else {
            (major << 16, (major + 1) << 16)
        };
        assert!(
            SB_ABI_VERSION == released || SB_ABI_VERSION == next,
            "SB_ABI_VERSION {SB_ABI_VERSION:#06x} is neither {released:#06x} (this version's \
             SONAME) nor {next:#06x} (the next release's)"
        );
    }

    /// The checked-in header must carry the same numbers (rustls-ffi lesson: a header that
    /// says one version while the library is another).
    #[test]
    fn header_macros_match_the_package_version() {
        let header = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../include/switchboard.h"
        ))
        .unwrap();
        let define = |name: &str| -> u32 {
            let prefix = format!("#define {name} ");
            let line = header
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("{name} missing from the header"));
            let value = line[prefix.len()..].trim();
            match value.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                None => value.parse().unwrap(),
            }
        };
        let (major, minor, patch) = pkg_version();
        assert_eq!(define("SB_VERSION_MAJOR"), major);
        assert_eq!(define("SB_VERSION_MINOR"), minor);
        assert_eq!(define("SB_VERSION_PATCH"), patch);
        assert_eq!(
            define("SB_VERSION_NUMBER"),
            major * 1_000_000 + minor * 1_000 + patch
        );
        assert_eq!(define("SB_ABI_VERSION"), SB_ABI_VERSION);
    }

    #[test]
    fn version_text_names_the_package_version() {
        // SAFETY: sb_version returns a static NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(sb_version()) };
        assert!(text.to_str().unwrap().contains(env!("CARGO_PKG_VERSION")));
    }
}
