// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

use crate::*;
use bytes::Bytes;
use http::header;

#[derive(Debug, Clone)]
pub struct CaseHeaderName(Bytes);

impl CaseHeaderName {
    pub fn new(name: String) -> Self {
        CaseHeaderName(name.into())
    }
}

impl CaseHeaderName {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn from_slice(buf: &[u8]) -> Self {
        CaseHeaderName(Bytes::copy_from_slice(buf))
    }

    /// A name in the case it is to be sent, from a constant (no allocation, ever).
    pub const fn from_static(name: &'static str) -> Self {
        CaseHeaderName(Bytes::from_static(name.as_bytes()))
    }
}

/// A trait that converts into case-sensitive header names.
pub trait IntoCaseHeaderName {
    fn into_case_header_name(self) -> CaseHeaderName;

    /// The header name, and its case-preserved form when `with_case` (the header map keeps
    /// case). The default renders the cased bytes and parses the name back from them; a
    /// [`HeaderName`] overrides it to skip the parse (and the rendering when case is not kept).
    fn into_header_names(self, with_case: bool) -> Result<(HeaderName, Option<CaseHeaderName>)>
    where
        Self: Sized,
    {
        let case_header_name = self.into_case_header_name();
        let header_name = HeaderName::try_from(case_header_name.as_slice())
            .or_err(InvalidHTTPHeader, "invalid header name")?;
        Ok((header_name, with_case.then_some(case_header_name)))
    }
}

impl IntoCaseHeaderName for CaseHeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        self
    }
}

impl IntoCaseHeaderName for String {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(self.into())
    }
}

impl IntoCaseHeaderName for &'static str {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(self.into())
    }
}

impl IntoCaseHeaderName for HeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(titled_header_name(&self))
    }

    fn into_header_names(self, with_case: bool) -> Result<(HeaderName, Option<CaseHeaderName>)> {
        let case = with_case.then(|| CaseHeaderName(titled_header_name(&self)));
        Ok((self, case))
    }
}

impl IntoCaseHeaderName for &HeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(titled_header_name(self))
    }

    fn into_header_names(self, with_case: bool) -> Result<(HeaderName, Option<CaseHeaderName>)> {
        self.clone().into_header_names(with_case)
    }
}

/// A header name with the case to send it in, both known to the caller (for example two
/// constants), so that inserting it neither parses nor allocates. The two must name the same
/// header, ignoring case.
impl IntoCaseHeaderName for (HeaderName, CaseHeaderName) {
    fn into_case_header_name(self) -> CaseHeaderName {
        self.1
    }

    fn into_header_names(self, with_case: bool) -> Result<(HeaderName, Option<CaseHeaderName>)> {
        debug_assert!(self.0.as_str().as_bytes().eq_ignore_ascii_case(self.1.as_slice()));
        Ok((self.0, with_case.then_some(self.1)))
    }
}

impl IntoCaseHeaderName for Bytes {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(self)
    }
}

fn titled_header_name(header_name: &HeaderName) -> Bytes {
    titled_header_name_str(header_name).map_or_else(
        || Bytes::copy_from_slice(header_name.as_str().as_bytes()),
        |s| Bytes::from_static(s.as_bytes()),
    )
}

pub(crate) fn titled_header_name_str(header_name: &HeaderName) -> Option<&'static str> {
    Some(match *header_name {
        header::ACCEPT_RANGES => "Accept-Ranges",
        header::AGE => "Age",
        header::CACHE_CONTROL => "Cache-Control",
        header::CONNECTION => "Connection",
        header::CONTENT_TYPE => "Content-Type",
        header::CONTENT_ENCODING => "Content-Encoding",
        header::CONTENT_LENGTH => "Content-Length",
        header::DATE => "Date",
        header::TRANSFER_ENCODING => "Transfer-Encoding",
        header::HOST => "Host",
        header::SERVER => "Server",
        header::SET_COOKIE => "Set-Cookie",
        // TODO: add more const header here to map to their titled case
        // TODO: automatically upper case the first letter?
        _ => {
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_skip_the_parse_and_keep_case_only_when_asked() {
        let (name, case) = header::SERVER.into_header_names(true).unwrap();
        assert_eq!((name, case.unwrap().as_slice()), (header::SERVER, &b"Server"[..]));
        let custom = HeaderName::from_static("x-forwarded-for");
        let (name, case) = (&custom).into_header_names(false).unwrap();
        assert!(name == custom && case.is_none());
        let (name, case) = "X-Foo".into_header_names(true).unwrap();
        assert_eq!((name.as_str(), case.unwrap().as_slice()), ("x-foo", &b"X-Foo"[..]));
        assert!("bad name".into_header_names(false).is_err());
        let pair = (custom.clone(), CaseHeaderName::from_static("X-Forwarded-For"));
        let (name, case) = pair.into_header_names(true).unwrap();
        assert_eq!((name, case.unwrap().as_slice()), (custom, &b"X-Forwarded-For"[..]));
    }

    #[test]
    fn test_case_header_name() {
        assert_eq!("FoO".into_case_header_name().as_slice(), b"FoO");
        assert_eq!("FoO".to_string().into_case_header_name().as_slice(), b"FoO");
        assert_eq!(header::SERVER.into_case_header_name().as_slice(), b"Server");
    }
}
