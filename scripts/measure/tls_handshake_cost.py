#!/usr/bin/env python3
"""CPU cost of a TLS handshake in Sluice, compared with plain HTTP, measured side by side.

Starts one release `sluice` (1 worker thread) on a generated manifests folder with an echo
backend, then opens N fresh connections with one request each (Connection: close), over plain
HTTP and over TLS (1.3, ECDSA P-256 and RSA-2048 certificates), alternating cells. The figure is
Sluice's CPU time (utime+stime from /proc/PID/stat) divided by connections: CPU-us per
connection. Everything runs on 127.0.0.x and every loop is bounded.

usage: tls_handshake_cost.py [--connections N] [--rounds R]   (run from the repository root)
"""
import argparse, os, socket, ssl, subprocess, sys, tempfile, time

BIN = "target/release/sluice"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cert(tmp, name, algo):
    key, crt = f"{tmp}/{name}.key", f"{tmp}/{name}.crt"
    newkey = ["-newkey", "rsa:2048"] if algo == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}", "-keyout", key, "-out", crt] + newkey,
                   check=True, capture_output=True)
    return open(crt).read(), open(key).read()


def manifests(tmp, port):
    docs = ["apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: sluice}\nspec: {controller: sluice.dev/ingress-controller}\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: m}\nspec: {ports: [{port: 80, targetPort: %d}]}\n" % port,
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: m, labels: {kubernetes.io/service-name: web}}\n"
            "addressType: IPv4\nports: [{port: %d}]\nendpoints: [{addresses: [127.0.0.70]}]\n" % port]
    for host, algo in [("ec.test", "ec"), ("rsa.test", "rsa"), ("plain.test", None)]:
        tls = ""
        if algo:
            crt, key = cert(tmp, host, algo)
            ind = lambda s: "".join("    " + l + "\n" for l in s.splitlines())
            docs.append(f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {algo}, namespace: m}}\ntype: kubernetes.io/tls\n"
                        f"stringData:\n  tls.crt: |\n{ind(crt)}  tls.key: |\n{ind(key)}")
            tls = f"  tls: [{{hosts: [{host}], secretName: {algo}}}]\n"
        docs.append(f"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {host.split('.')[0]}\n  namespace: m\n"
                    f"  annotations: {{nginx.ingress.kubernetes.io/ssl-redirect: \"false\"}}\nspec:\n  ingressClassName: sluice\n{tls}"
                    f"  rules: [{{host: {host}, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}}}]\n")
    open(f"{tmp}/all.yaml", "w").write("---\n".join(docs))


def one(addr, host, ctx):
    s = socket.create_connection(addr)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname=host)
    s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"bad response for {host}: {data[:80]!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    echo_port, http, https, admin = free_port(), free_port(), free_port(), free_port()
    manifests(tmp, echo_port)
    procs = [subprocess.Popen([BIN, "echo", "--listen", f"127.0.0.70:{echo_port}"], stderr=subprocess.DEVNULL)]
    sl = subprocess.Popen([BIN, "--manifests", tmp, "--http-addr", f"127.0.0.1:{http}", "--https-addr", f"127.0.0.1:{https}",
                           "--admin-addr", f"127.0.0.1:{admin}", "--threads", "1", "--disable-access-log"], stderr=subprocess.DEVNULL)
    procs.append(sl)
    try:
        time.sleep(1.5)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        cells = [("plain HTTP", ("127.0.0.1", http), "plain.test", None),
                 ("TLS 1.3 ECDSA P-256", ("127.0.0.1", https), "ec.test", ctx),
                 ("TLS 1.3 RSA-2048", ("127.0.0.1", https), "rsa.test", ctx)]
        results = {c[0]: [] for c in cells}
        for _ in range(args.rounds):
            for name, addr, host, c in cells:
                before = cpu_seconds(sl.pid)
                for _ in range(args.connections):
                    one(addr, host, c)
                results[name].append((cpu_seconds(sl.pid) - before) * 1e6 / args.connections)
        base = sorted(results["plain HTTP"])[len(results["plain HTTP"]) // 2]
        print(f"| cell | CPU-us per connection (median of {args.rounds}) | ratio to plain HTTP |")
        print("|---|---|---|")
        for name, values in results.items():
            med = sorted(values)[len(values) // 2]
            print(f"| {name} | {med:.1f} | {med / base:.2f} |")
    finally:
        for p in procs:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
