//! What the binary's tests share.

/// A port free on 127.0.0.1 now (the binary takes its listen address from the environment).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
