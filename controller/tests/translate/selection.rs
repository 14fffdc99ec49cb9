//! IngressClass selection, as ingress-nginx decides it.

use serde_json::json;

use super::fixtures::{ingress, ingress_class, rule, served_by, World};

struct Case {
    name: &'static str,
    class_name: Option<&'static str>,
    annotation: Option<&'static str>,
    default_class: Option<&'static str>,
    without_class_flag: bool,
    ours: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "class name of ours",
        class_name: Some("sluice"),
        annotation: None,
        default_class: None,
        without_class_flag: false,
        ours: true,
    },
    Case {
        name: "class of another controller",
        class_name: Some("nginx"),
        annotation: None,
        default_class: None,
        without_class_flag: false,
        ours: false,
    },
    Case {
        name: "class that does not exist",
        class_name: Some("ghost"),
        annotation: None,
        default_class: None,
        without_class_flag: false,
        ours: false,
    },
    Case {
        name: "legacy annotation of ours",
        class_name: None,
        annotation: Some("sluice"),
        default_class: None,
        without_class_flag: false,
        ours: true,
    },
    Case {
        name: "legacy annotation of another",
        class_name: None,
        annotation: Some("nginx"),
        default_class: None,
        without_class_flag: false,
        ours: false,
    },
    Case {
        name: "annotation takes precedence over spec",
        class_name: Some("nginx"),
        annotation: Some("sluice"),
        default_class: None,
        without_class_flag: false,
        ours: true,
    },
    Case {
        name: "annotation of another wins over our spec",
        class_name: Some("sluice"),
        annotation: Some("nginx"),
        default_class: None,
        without_class_flag: false,
        ours: false,
    },
    Case {
        name: "no class, no default, no flag",
        class_name: None,
        annotation: None,
        default_class: None,
        without_class_flag: false,
        ours: false,
    },
    Case {
        name: "no class with --watch-ingress-without-class",
        class_name: None,
        annotation: None,
        default_class: None,
        without_class_flag: true,
        ours: true,
    },
    Case {
        name: "no class, our class is the default",
        class_name: None,
        annotation: None,
        default_class: Some("sluice"),
        without_class_flag: false,
        ours: true,
    },
    Case {
        name: "no class, another controller's class is the default",
        class_name: None,
        annotation: None,
        default_class: Some("nginx"),
        without_class_flag: false,
        ours: false,
    },
];

#[test]
fn ingress_class_selection_follows_ingress_nginx() {
    for case in CASES {
        let mut world = World::new().backend("a", &["127.0.0.2"]).with(ingress_class(
            "nginx",
            "k8s.io/ingress-nginx",
            case.default_class == Some("nginx"),
        ));
        if case.default_class == Some("sluice") {
            world = world.with(ingress_class("sluice", "sluice.dev/ingress-controller", true));
        }
        world.options.classes.watch_without_class = case.without_class_flag;
        let mut ing = ingress("x", json!({"rules": [rule(Some("c.test"), &[("Prefix", "/", "a")])]}));
        match case.class_name {
            Some(c) => ing["spec"]["ingressClassName"] = json!(c),
            None => {
                ing["spec"].as_object_mut().expect("spec").remove("ingressClassName");
            }
        }
        if let Some(a) = case.annotation {
            ing["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": a});
        }
        let t = world.with(ing).translate();
        assert_eq!(served_by(&t, "c.test", "/").is_some(), case.ours, "{}", case.name);
    }
}

#[test]
fn custom_controller_and_class_names_are_honoured() {
    let mut world = World::new()
        .backend("a", &["127.0.0.2"])
        .with(ingress_class("edge", "example.com/edge", false))
        .with(ingress(
            "by-spec",
            json!({"ingressClassName": "edge", "rules": [rule(Some("s.test"), &[("Prefix", "/", "a")])]}),
        ));
    let mut legacy =
        ingress("by-annotation", json!({"rules": [rule(Some("l.test"), &[("Prefix", "/", "a")])]}));
    legacy["spec"].as_object_mut().expect("spec").remove("ingressClassName");
    legacy["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": "edge"});
    world = world.with(legacy);
    world.options.classes.controller = "example.com/edge".into();
    world.options.classes.ingress_class = "edge".into();
    let t = world.translate();
    assert!(served_by(&t, "s.test", "/").is_some());
    assert!(served_by(&t, "l.test", "/").is_some());
}
