//! The command line's `listen`, `send`, `merge`, `decrypt`, `keygen --encryption`, `serve`, `search` and `users` commands (argument parsing and the runs around the library's
//! server and client; errors here are for a person, as `anyhow`, while the library's are typed).

pub mod console;
pub mod crypt;
pub mod leg;
pub mod listen;
pub mod merge;
pub mod send;
pub mod store;
