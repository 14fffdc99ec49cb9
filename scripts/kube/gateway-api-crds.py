#!/usr/bin/env python3
"""Regenerates scripts/kube/gateway-api-crds.yaml from a gateway-api checkout:
    python3 scripts/kube/gateway-api-crds.py PATH/TO/gateway-api > scripts/kube/gateway-api-crds.yaml
Keeps GatewayClass, Gateway, HTTPRoute and ReferenceGrant from config/crd/standard and removes
what kube-apiserver 1.20 (the test apiserver) cannot use: `x-kubernetes-validations` (CEL,
1.25+), empty-string defaults (1.20 reads them as null and rejects the CRD), and every
`description` (without them the HTTPRoute CRD fits in kubectl apply's 262,144-byte
last-applied annotation)."""
import sys
import yaml

KINDS = ["gatewayclasses", "gateways", "httproutes", "referencegrants"]


def strip(o):
    if isinstance(o, dict):
        return {
            k: strip(v)
            for k, v in o.items()
            if k not in ("x-kubernetes-validations", "description") and not (k == "default" and v == "")
        }
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o


docs = []
for kind in KINDS:
    with open(f"{sys.argv[1]}/config/crd/standard/gateway.networking.k8s.io_{kind}.yaml") as f:
        crd = yaml.safe_load(f)
    crd["metadata"] = {"name": crd["metadata"]["name"], "annotations": crd["metadata"].get("annotations", {})}
    crd["spec"]["versions"] = [strip(v) for v in crd["spec"]["versions"]]
    crd.pop("status", None)
    docs.append(crd)
sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False, width=120))
