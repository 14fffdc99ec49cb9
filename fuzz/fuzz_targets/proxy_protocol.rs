//! PROXY protocol headers: arbitrary bytes through the v1 and v2 parsers and the framing reader.
//! The parser has no dependencies on Pingora, so it is compiled here from its source file.
#![no_main]

#[allow(dead_code)]
#[path = "../../proxy/src/proxy_protocol.rs"]
mod proxy_protocol;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = proxy_protocol::parse_v1(data);
    if data.len() >= 16 {
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&data[..16]);
        let _ = proxy_protocol::v2_length(&prefix);
        let _ = proxy_protocol::parse_v2(&prefix, &data[16..]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let mut cursor = std::io::Cursor::new(data.to_vec());
    let read =
        runtime.block_on(proxy_protocol::read_header(&mut cursor, std::time::Duration::from_millis(50)));
    if read.is_ok() {
        assert!(
            cursor.position() as usize
                <= 16 + proxy_protocol::MAX_V2_LENGTH.max(proxy_protocol::MAX_V1_LENGTH)
        );
    }
});
