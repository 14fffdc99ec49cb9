// Copyright 2025 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//! A write buffer held only while it holds unwritten bytes.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// [`tokio::io::BufWriter`]'s behaviour (the same writes reach the inner writer, so the same
/// system calls), but the buffer is allocated by the first write it keeps and freed by the
/// flush that empties it. A keep-alive connection between two responses therefore holds no
/// write buffer; the allocator's per-thread free lists make the allocation per response cheap.
#[derive(Debug)]
pub(crate) struct LazyBufWriter<W> {
    inner: W,
    capacity: usize,
    /// Unwritten bytes; no allocation while empty after a flush.
    buf: Vec<u8>,
    /// How much of `buf` the inner writer has taken.
    written: usize,
}

impl<W: AsyncWrite + Unpin> LazyBufWriter<W> {
    /// A writer keeping up to `capacity` bytes; a zero capacity writes straight through.
    pub(crate) fn with_capacity(capacity: usize, inner: W) -> Self {
        LazyBufWriter { inner, capacity, buf: Vec::new(), written: 0 }
    }

    pub(crate) fn get_ref(&self) -> &W {
        &self.inner
    }

    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner writer; unwritten bytes are lost.
    pub(crate) fn into_inner(self) -> W {
        self.inner
    }

    fn room(&self) -> usize {
        self.capacity - self.buf.len()
    }

    fn keep(&mut self, bytes: &[u8]) {
        if self.buf.capacity() == 0 {
            // Allocated whole here, not through `Vec`'s growth path.
            self.buf = Vec::with_capacity(self.capacity);
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Writes out the buffered bytes, keeping the allocation for the bytes about to come.
    fn flush_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut ret = Ok(());
        while self.written < self.buf.len() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..])) {
                Ok(0) => {
                    ret = Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write the buffered data"));
                    break;
                }
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    ret = Err(e);
                    break;
                }
            }
        }
        if self.written == self.buf.len() {
            self.buf.clear();
        } else if self.written > 0 {
            self.buf.drain(..self.written);
        }
        self.written = 0;
        Poll::Ready(ret)
    }

    /// Writes out the buffered bytes and frees the buffer once it is empty.
    fn drain_and_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = ready!(self.flush_buf(cx));
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
        Poll::Ready(result)
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for LazyBufWriter<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if bytes.len() > me.room() {
            ready!(me.flush_buf(cx))?;
        }
        if bytes.len() >= me.capacity {
            Pin::new(&mut me.inner).poll_write(cx, bytes)
        } else {
            me.keep(bytes);
            Poll::Ready(Ok(bytes.len()))
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if me.inner.is_write_vectored() {
            let total = bufs.iter().fold(0usize, |acc, b| acc.saturating_add(b.len()));
            if total > me.room() {
                ready!(me.flush_buf(cx))?;
            }
            if total >= me.capacity {
                return Pin::new(&mut me.inner).poll_write_vectored(cx, bufs);
            }
            for b in bufs {
                me.keep(b);
            }
            return Poll::Ready(Ok(total));
        }
        while bufs.first().map(|b| b.len()) == Some(0) {
            bufs = &bufs[1..];
        }
        let Some(first) = bufs.first() else {
            return Poll::Ready(Ok(0));
        };
        if first.len() > me.room() {
            ready!(me.flush_buf(cx))?;
        }
        if first.len() >= me.capacity {
            return Pin::new(&mut me.inner).poll_write(cx, first);
        }
        me.keep(first);
        let mut total = first.len();
        for b in &bufs[1..] {
            if b.len() > me.room() {
                break;
            }
            me.keep(b);
            total += b.len();
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain_and_release(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain_and_release(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<W: AsyncWrite + AsyncRead + Unpin> AsyncRead for LazyBufWriter<W> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Records every write it is given.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            bytes: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(bytes.to_vec());
            Poll::Ready(Ok(bytes.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn small_writes_are_coalesced_and_the_flush_frees_the_buffer() {
        let mut w = LazyBufWriter::with_capacity(16, Recorder::default());
        assert_eq!(w.buf.capacity(), 0, "no buffer before the first write");
        w.write_all(b"head").await.expect("write");
        w.write_all(b"body").await.expect("write");
        assert!(w.inner.writes.is_empty());
        assert!(w.buf.capacity() >= 16);
        w.flush().await.expect("write");
        assert_eq!(w.inner.writes, vec![b"headbody".to_vec()]);
        assert_eq!(w.buf.capacity(), 0, "the flush that empties the buffer frees it");
    }

    #[tokio::test]
    async fn large_writes_bypass_and_overflow_flushes_first() {
        let mut w = LazyBufWriter::with_capacity(8, Recorder::default());
        w.write_all(b"abc").await.expect("write");
        w.write_all(b"0123456789").await.expect("write");
        assert_eq!(
            w.inner.writes,
            vec![b"abc".to_vec(), b"0123456789".to_vec()],
            "the kept bytes go first, then the large write straight through"
        );
        w.write_all(b"xyz").await.expect("write");
        w.write_all(b"12345").await.expect("write");
        w.write_all(b"!").await.expect("write");
        w.flush().await.expect("write");
        assert_eq!(&w.inner.writes[2..], &[b"xyz12345".to_vec(), b"!".to_vec()]);
    }

    #[tokio::test]
    async fn vectored_writes_are_kept_whole_or_passed_through() {
        let mut w = LazyBufWriter::with_capacity(8, Recorder::default());
        let n = w.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")]).await.expect("write");
        assert_eq!(n, 4);
        w.flush().await.expect("write");
        assert_eq!(w.inner.writes, vec![b"abcd".to_vec()]);
    }

    #[tokio::test]
    async fn zero_capacity_writes_straight_through() {
        let mut w = LazyBufWriter::with_capacity(0, Recorder::default());
        w.write_all(b"a").await.expect("write");
        assert_eq!(w.inner.writes, vec![b"a".to_vec()]);
        assert_eq!(w.buf.capacity(), 0);
    }
}
