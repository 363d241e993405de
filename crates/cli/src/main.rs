//! The `chainstore` command-line tool.

fn main() {}
