//! A minimal blocking JSON-RPC client over HTTP/1.1, so the tests can also send what a
//! well-behaved client would not (broken JSON, oversized batches).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use serde_json::{Value, json};

/// Talks to one server.
pub(crate) struct Client {
    addr: SocketAddr,
}

impl Client {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    /// POSTs `body` and parses the response body as JSON.
    pub(crate) fn raw(&self, body: &[u8]) -> Value {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let text = String::from_utf8(response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 "), "{head}");
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            return serde_json::from_str(&dechunk(body)).unwrap();
        }
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {head}\n{body}"))
    }

    /// The whole response to one call.
    pub(crate) fn call(&self, method: &str, params: Value) -> Value {
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = self.raw(request.to_string().as_bytes());
        assert_eq!(response["jsonrpc"], "2.0", "{response}");
        assert_eq!(response["id"], 1, "{response}");
        response
    }

    /// The result of a call that must succeed.
    pub(crate) fn result(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// The error of a call that must fail.
    pub(crate) fn error(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("result").is_none(), "{method} succeeded: {response}");
        response["error"].clone()
    }
}

/// The payload of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}
