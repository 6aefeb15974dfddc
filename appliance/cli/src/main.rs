//! `vigil`: the client (verbs land with issue 5).

fn main() {}
