# shellcheck shell=bash
# Helpers for end-to-end suites against the test control plane (tests/controlplane/up DIR).
# Source DIR/env first (KUBECONFIG, APISERVER_URL, APISERVER_CA, ADMIN_TOKEN; kubectl on PATH),
# then source this file. Functions print their result on stdout and return non-zero on failure.
# Without kube-controller-manager, namespaces get no "default" ServiceAccount and are never
# garbage-collected: use a fresh namespace per test (kube_new_namespace).

# kube_kubectl ARGS...: kubectl from $TOOLS_BIN (else PATH) with the admin KUBECONFIG.
kube_kubectl() {
  local k=kubectl
  [ -n "${TOOLS_BIN:-}" ] && [ -x "$TOOLS_BIN/kubectl" ] && k="$TOOLS_BIN/kubectl"
  "$k" --request-timeout=20s "$@"
}

# kube_new_namespace PREFIX: creates namespace PREFIX-<random 6 hex>, echoes its name.
kube_new_namespace() {
  local name
  name="$1-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
  kube_kubectl create namespace "$name" >/dev/null || return 1
  echo "$name"
}

# kube_apply_rbac NAMESPACE FILE: kubectl apply -n NAMESPACE of FILE (Role/RoleBinding/
# ServiceAccount YAML; "-" reads stdin); occurrences of ${NAMESPACE} in FILE become NAMESPACE.
kube_apply_rbac() {
  local ns="$1" file="$2"
  sed "s/\${NAMESPACE}/$ns/g" "$file" | kube_kubectl apply -n "$ns" -f - >/dev/null
}

# kube_create_sa NAMESPACE NAME: creates ServiceAccount NAME in NAMESPACE.
kube_create_sa() {
  kube_kubectl create serviceaccount -n "$1" "$2" >/dev/null
}

# kube_mint_token NAMESPACE SERVICEACCOUNT DURATION: echoes a bound token from the TokenRequest
# API (kubectl create token --duration; the apiserver's minimum is 10m).
kube_mint_token() {
  kube_kubectl create token -n "$1" "$2" --duration="$3"
}

# kube_write_kubeconfig OUTFILE TOKEN [NAMESPACE]: writes a kubeconfig for TOKEN against
# $APISERVER_URL, CA file $APISERVER_CA, current-context set (namespace too, if given); mode 600.
# kube_write_cert_kubeconfig OUT USER GROUP [NAMESPACE]: a kubeconfig that authenticates by a
# client certificate (CN=USER, O=GROUP) signed by the control plane's client CA, inline as
# client-certificate-data/client-key-data; no token.
kube_write_cert_kubeconfig() {
  local out="$1" user="$2" group="$3" ns="${4:-}"
  : "${CONTROLPLANE_DIR:?source the control plane env first}"
  local certs="$CONTROLPLANE_DIR/certs" tmp
  tmp="$(mktemp -d)"
  { openssl req -newkey rsa:2048 -nodes -subj "/O=$group/CN=$user" -keyout "$tmp/key" -out "$tmp/csr" 2>/dev/null &&
    openssl x509 -req -in "$tmp/csr" -CA "$certs/client-ca.crt" -CAkey "$certs/client-ca.key" \
      -CAcreateserial -CAserial "$tmp/serial" -days 1 -out "$tmp/crt" 2>/dev/null; } || { rm -rf "$tmp"; return 1; }
  kube_write_kubeconfig "$out" "" "$ns" &&
    sed -i '/^    token: $/d' "$out" &&
    {
      echo "    client-certificate-data: $(base64 -w0 <"$tmp/crt")"
      echo "    client-key-data: $(base64 -w0 <"$tmp/key")"
    } >>"$out"
  local rc=$?
  rm -rf "$tmp"
  return "$rc"
}

kube_write_kubeconfig() {
  local out="$1" token="$2" ns="${3:-}"
  : "${APISERVER_URL:?source the control plane env first}" "${APISERVER_CA:?source the control plane env first}"
  (
    umask 077
    {
      echo "apiVersion: v1"
      echo "kind: Config"
      echo "clusters:"
      echo "- cluster:"
      echo "    certificate-authority: $APISERVER_CA"
      echo "    server: $APISERVER_URL"
      echo "  name: test"
      echo "contexts:"
      echo "- context:"
      echo "    cluster: test"
      [ -n "$ns" ] && echo "    namespace: $ns"
      echo "    user: test"
      echo "  name: test"
      echo "current-context: test"
      echo "preferences: {}"
      echo "users:"
      echo "- name: test"
      echo "  user:"
      echo "    token: $token"
    } >"$out"
  )
}

# kube_lease_json NAMESPACE NAME: prints Lease NAME as JSON; empty output and non-zero if absent.
kube_lease_json() {
  local out
  out="$(kube_kubectl get lease -n "$1" "$2" -o json 2>/dev/null)" || return 1
  printf '%s\n' "$out"
}

# kube_api [CURL_ARGS...] PATH: curl against $APISERVER_URL/PATH as admin (verified TLS);
# prints the body. Pass -o FILE -w '%{http_code}' and the like as usual.
kube_api() {
  local path="${*: -1}"
  curl -sS --max-time 30 --cacert "$APISERVER_CA" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "${@:1:$#-1}" "$APISERVER_URL$path"
}
