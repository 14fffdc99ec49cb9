use std::borrow::Cow;

use super::*;

fn norm(raw: &str) -> Result<String, PathError> {
    normalize_path(raw.as_bytes(), true).map(Cow::into_owned)
}

#[test]
fn bypass_spellings_normalize_to_the_protected_path() {
    for raw in [
        "/admin",
        "//admin",
        "/./admin",
        "/x/../admin",
        "/%61dmin",
        "/%2e/admin",
        "/x/%2e%2e/admin",
        "/x/%2E%2E/admin",
        "///./x//..//admin",
        "/x/.%2e/admin",
    ] {
        assert_eq!(norm(raw).as_deref(), Ok("/admin"), "{raw}");
    }
    assert_eq!(norm("/%2fadmin").as_deref(), Ok("/admin"), "an encoded slash is a separator");
    assert_eq!(norm("/admin%2f..%2fsecret").as_deref(), Ok("/secret"));
}

#[test]
fn normal_paths_are_borrowed() {
    for raw in ["/", "/a/b.c", "/a.b/c..d/", "/x?y=/../z"] {
        assert!(matches!(normalize_path(raw.as_bytes(), true), Ok(Cow::Borrowed(_))), "{raw}");
    }
    assert_eq!(normalize_path(b"/a/b?q=1", true), Ok(Cow::Borrowed("/a/b")));
}

#[test]
fn dot_segments_resolve_as_nginx_does() {
    assert_eq!(norm("/a/."), Ok("/a/".into()));
    assert_eq!(norm("/a/.."), Ok("/".into()));
    assert_eq!(norm("/a/b/../c"), Ok("/a/c".into()));
    assert_eq!(norm("/a/..."), Ok("/a/...".into()), "three dots are a name");
    assert_eq!(norm("/a/.b"), Ok("/a/.b".into()));
    assert_eq!(norm("/a/..b/"), Ok("/a/..b/".into()));
    assert_eq!(norm("/a/./?x=/.."), Ok("/a/".into()));
    assert_eq!(norm("/a/.?x"), Ok("/a/".into()));
    assert_eq!(norm("/a/b/..?x"), Ok("/a/".into()));
}

#[test]
fn climbing_above_the_root_is_refused() {
    assert_eq!(norm("/.."), Err(PathError::AboveRoot));
    assert_eq!(norm("/../a"), Err(PathError::AboveRoot));
    assert_eq!(norm("/a/../.."), Err(PathError::AboveRoot));
    assert_eq!(norm("/%2e%2e/a"), Err(PathError::AboveRoot));
    assert_eq!(norm("/a/..%2f..%2fb"), Err(PathError::AboveRoot));
}

#[test]
fn escapes_decode_and_bad_ones_are_refused() {
    assert_eq!(norm("/a%20b"), Ok("/a b".into()));
    assert_eq!(norm("/%25"), Ok("/%".into()), "a decoded % is literal");
    assert_eq!(norm("/%252e%252e/x"), Ok("/%2e%2e/x".into()), "and is not decoded twice");
    assert_eq!(norm("/a%3fb"), Ok("/a?b".into()), "a decoded ? is part of the path");
    assert_eq!(norm("/a%23b"), Ok("/a#b".into()));
    assert_eq!(norm("/%00"), Err(PathError::Nul));
    assert_eq!(norm("/%zz"), Err(PathError::BadEscape));
    assert_eq!(norm("/%4"), Err(PathError::BadEscape));
    assert_eq!(norm("/%"), Err(PathError::BadEscape));
    assert_eq!(norm("/%C3%A9"), Ok("/é".into()));
    assert_eq!(norm("/%ff"), Ok("/\u{FFFD}".into()), "invalid UTF-8 is replaced, never a panic");
}

#[test]
fn slashes_merge_unless_turned_off() {
    assert_eq!(norm("//a///b//"), Ok("/a/b/".into()));
    assert_eq!(normalize_path(b"//a//b", false).as_deref(), Ok("//a//b"));
}

#[test]
fn empty_and_relative_targets() {
    assert_eq!(norm(""), Ok("/".into()));
    assert_eq!(norm("?a=1"), Ok("/".into()));
    assert_eq!(norm("a/b"), Err(PathError::NotAbsolute));
    assert_eq!(norm("*"), Err(PathError::NotAbsolute));
}

#[test]
fn hosts_are_validated_as_nginx_does() {
    assert_eq!(validate_host("Example.com"), Ok("Example.com"));
    assert_eq!(validate_host("example.com:8080"), Ok("example.com"));
    assert_eq!(validate_host("example.com."), Ok("example.com"));
    assert_eq!(validate_host("example.com.:80"), Ok("example.com"));
    assert_eq!(validate_host("example.com:"), Ok("example.com"));
    assert_eq!(validate_host("[::1]:443"), Ok("[::1]"));
    assert_eq!(validate_host("a_b.example"), Ok("a_b.example"));
    assert_eq!(validate_host(""), Err(HostError::Empty));
    assert_eq!(validate_host(":80"), Err(HostError::Empty));
    assert_eq!(validate_host("."), Err(HostError::Empty));
    assert_eq!(validate_host("a b"), Err(HostError::BadCharacter));
    assert_eq!(validate_host("a/b"), Err(HostError::BadCharacter));
    assert_eq!(validate_host("user@a"), Err(HostError::BadCharacter));
    assert_eq!(validate_host("a..b"), Err(HostError::EmptyLabel));
    assert_eq!(validate_host("a:8x"), Err(HostError::BadPort));
    assert_eq!(validate_host("a:65536"), Err(HostError::BadPort));
    assert_eq!(validate_host("a:1:2"), Err(HostError::BadPort));
    assert_eq!(validate_host("[::1"), Err(HostError::BadLiteral));
    assert_eq!(validate_host("[::1]x"), Err(HostError::BadLiteral));
}

#[test]
fn absolute_form_splits_into_authority_and_path() {
    let split = |t: &'static str| split_absolute_form(t.as_bytes());
    assert_eq!(split("http://a.example/x?y"), Some((&b"a.example"[..], &b"/x?y"[..])));
    assert_eq!(split("HTTPS://a.example:8443"), Some((&b"a.example:8443"[..], &b""[..])));
    assert_eq!(split("http://u:p@a.example/"), Some((&b"a.example"[..], &b"/"[..])));
    assert_eq!(split("/x:y"), None);
    assert_eq!(split("/http://a"), None);
}
