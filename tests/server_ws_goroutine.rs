//! A WebSocket connection handed to a goroutine started before the script made its server. A
//! goroutine's state installs builtins on first use (`runtime::lazy`); the connection's methods
//! must work there all the same.

mod server_support;

use server_support::Server;
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::Message;

const SCRIPT: &str = r#"
local conns, done, ready = chan(), chan(), chan()
-- Its state is made before any server exists, and it touches no builtin before the connection
-- arrives.
go(function()
    ready:send(true)
    local ws = conns:receive()
    ws:send("from a goroutine")
    ws.send("bound " .. tostring(ws.remote_addr ~= nil))
    done:send(true)
end)
ready:receive()
create_server("s", {port = 0, host = "127.0.0.1"})
handle_ws("s", "/ws", function(ws)
    conns:send(ws)
    done:receive()
end)
print(start_server("s"))
"#;

#[test]
fn websocket_methods_work_in_a_goroutine_started_before_the_server() {
    let s = Server::start("ws-goroutine", SCRIPT, &[]);
    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{}/ws", s.port), stream).unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::text("from a goroutine"),
        "stderr: {}",
        s.stderr()
    );
    assert_eq!(ws.read().unwrap(), Message::text("bound true"));
}
