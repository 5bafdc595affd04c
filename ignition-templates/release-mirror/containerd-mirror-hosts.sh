#!/bin/sh
# Rendered by Provisioner for {{ machine.name }}: containerd pulls release {{ release.kubernetes_version }} images from
# the bootstrap host's registry, by digest and by tag: "resolve" lets the mirror answer tags too, so a tag such as
# registry.k8s.io/kube-scheduler:{{ release.kubernetes_version }} never goes upstream (air-gapped sites have no upstream).
set -eu
{% for registry in release.registries %}
mkdir -p "/etc/containerd/certs.d/{{ registry }}"
cat > "/etc/containerd/certs.d/{{ registry }}/hosts.toml.tmp" <<'HOSTS'
server = "https://{{ registry }}"

[host."{{ release.mirror_url }}/v2/{{ registry }}"]
  capabilities = ["pull", "resolve"]
  override_path = true
HOSTS
mv "/etc/containerd/certs.d/{{ registry }}/hosts.toml.tmp" "/etc/containerd/certs.d/{{ registry }}/hosts.toml"
{% endfor %}
