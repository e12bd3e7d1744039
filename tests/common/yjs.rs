//! Yjs test clients: the real `yjs` + `y-websocket` npm packages run by
//! Node (tests/js/yjs_client.mjs), and a raw WebSocket speaking the sync
//! protocol.

use super::*;
use std::path::PathBuf;
use std::sync::OnceLock;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{GetString, StateVector, Transact, Update};

pub fn js_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
}

/// Installs the npm packages once if `npm ci --prefix tests/js` has not run.
pub fn ensure_node_modules() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        if js_dir().join("node_modules/y-websocket").is_dir() {
            return Ok(());
        }
        let out = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(js_dir())
            .output()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = ready {
        panic!("tests/js needs its packages (npm ci --prefix tests/js): {e}");
    }
}

/// Runs tests/js/yjs_client.mjs with `cfg` and returns the JSON it prints.
pub async fn node(cfg: Value) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        ensure_node_modules();
        std::process::Command::new("node")
            .arg(js_dir().join("yjs_client.mjs"))
            .arg(cfg.to_string())
            .current_dir(js_dir())
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (Node 20 must be installed)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node client failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad output {stdout:?}: {e}"))
}

pub fn yjs_url(app: &TestApp) -> String {
    format!("ws://127.0.0.1:{}/yjs", app.port)
}

/// A client config for `node`.
pub fn client(app: &TestApp, mode: &str, room: &str, user: &str, tenant: &str) -> Value {
    json!({
        "mode": mode,
        "url": yjs_url(app),
        "room": room,
        "token": app.token(user, tenant),
    })
}

pub fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// Connects a raw WebSocket client to a (percent-encoded) document path.
pub async fn raw_client(app: &TestApp, encoded_doc: &str, user: &str, tenant: &str) -> WsClient {
    let url = format!(
        "{}/{encoded_doc}?token={}",
        yjs_url(app),
        app.token(user, tenant)
    );
    WsClient::connect(&url, &[]).await.unwrap()
}

/// Sync step 1 with an empty state vector: the server answers with its whole state.
pub fn step1_empty() -> Vec<u8> {
    Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1()
}

/// Reads frames until the server's sync step 2 and returns the document's text.
pub async fn text_from_step2(c: &mut WsClient) -> String {
    loop {
        let frame = c.recv_binary().await;
        if let Ok(Message::Sync(SyncMessage::SyncStep2(update))) = Message::decode_v1(&frame) {
            let doc = yrs::Doc::new();
            let text = doc.get_or_insert_text("content");
            doc.transact_mut()
                .apply_update(Update::decode_v1(&update).unwrap())
                .unwrap();
            let s = text.get_string(&doc.transact());
            return s;
        }
    }
}
