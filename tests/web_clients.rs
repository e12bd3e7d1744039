//! The JavaScript side, run with Node's test runner against the real
//! `tandem` binary (each Node test file starts its own server on a free port
//! against a fresh database; see tests/js/harness.mjs):
//! - `tests/js/client/`: the client library in clients/js (OT, reconnects
//!   after a dropped TCP connection and a server restart, convergence, rooms,
//!   notification resume, SSE fallback);
//! - `tests/js/browser/`: the demo app in web/ driven in Debian's Chromium
//!   with playwright-core (screenshots in target/web-screenshots/).
//!
//! Needs Node >= 20, `npm ci --prefix tests/js`, PostgreSQL
//! (TANDEM_TEST_DATABASE_URL) and, for the browser tests, /usr/bin/chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn js_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
}

fn node_test(dir: &str) {
    assert!(
        js_dir().join("node_modules/playwright-core").is_dir()
            && js_dir().join("node_modules/ws").is_dir(),
        "tests/js needs its packages: npm ci --prefix tests/js"
    );
    let out = Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .arg(js_dir().join(dir))
        .env("TANDEM_BIN", env!("CARGO_BIN_EXE_tandem"))
        .current_dir(js_dir())
        .output()
        .expect("node runs (Node >= 20 must be installed)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "node --test {dir} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("fail 0") && !stdout.contains("pass 0"),
        "no tests ran in {dir}:\n{stdout}"
    );
}

#[test]
fn js_client_library_against_the_real_server() {
    node_test("client");
}

#[test]
fn demo_app_in_chromium() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's chromium (apt-get install chromium; scripts/test.sh installs it)"
    );
    node_test("browser");
}
