//! Rebuilds the crate when a migration changes: `db::MIGRATIONS` embeds the
//! `migrations/` directory at compile time, and cargo does not watch it
//! unless told to (a renamed or edited migration would otherwise ship stale).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
