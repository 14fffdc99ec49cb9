//! Reading one HTTP/1.1 answer off a client connection, for the harness's own clients (the
//! soak's and the instruction count's).

use std::io::{BufRead, Read};

/// The failure cause an I/O error is counted under (`tls: ...` for a TLS error, `io: <kind>`).
pub fn io_cause(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::InvalidData => format!("tls: {e}"),
        kind => format!("io: {kind}"),
    }
}

/// Reads one answer (head, then a `Content-Length` or chunked body) and returns its status and
/// whether the connection stays open (`keep_alive`, unless the answer says `Connection: close`).
pub fn read_answer<S: Read>(
    stream: &mut std::io::BufReader<S>,
    keep_alive: bool,
) -> Result<(u16, bool), String> {
    let close = !keep_alive;
    let io = io_cause;
    let mut line = String::new();
    if stream.read_line(&mut line).map_err(io)? == 0 {
        return Err("closed".to_owned());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let (mut length, mut chunked, mut keep) = (0usize, false, !close);
    loop {
        line.clear();
        if stream.read_line(&mut line).map_err(io)? == 0 {
            return Err("closed in the head".to_owned());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                length = value.parse().map_err(|_| format!("bad content-length {value:?}"))?
            }
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep &= !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if chunked {
        loop {
            line.clear();
            stream.read_line(&mut line).map_err(io)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            let mut rest = vec![0; size + 2];
            stream.read_exact(&mut rest).map_err(io)?;
            if size == 0 {
                break;
            }
        }
    } else {
        let mut body = vec![0; length];
        stream.read_exact(&mut body).map_err(io)?;
    }
    Ok((status, keep))
}
