//! `health`: the container's HEALTHCHECK. The runtime image has no curl, so the binary probes
//! its own `/healthz` over loopback.

use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn probe(port: u16) -> ExitCode {
    match tokio::time::timeout(Duration::from_secs(3), get_status(port)).await {
        Ok(Ok(200)) => ExitCode::SUCCESS,
        Ok(Ok(status)) => {
            eprintln!("/healthz answered {status}");
            ExitCode::FAILURE
        }
        Ok(Err(error)) => {
            eprintln!("/healthz unreachable: {error}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("/healthz did not answer within 3 s");
            ExitCode::FAILURE
        }
    }
}

async fn get_status(port: u16) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}
