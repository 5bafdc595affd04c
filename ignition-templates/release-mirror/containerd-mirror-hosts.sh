#!/bin/sh
# Rendered by Provisioner for {{ machine.name }}: containerd pulls release {{ release.kubernetes_version }} images by
# digest from the bootstrap host's registry. capabilities = ["pull"] only: the mirror serves content by digest;
# resolving tags stays with the upstream registry.
set -eu
{% for registry in release.registries %}
mkdir -p "/etc/containerd/certs.d/{{ registry }}"
cat > "/etc/containerd/certs.d/{{ registry }}/hosts.toml.tmp" <<'HOSTS'
server = "https://{{ registry }}"

[host."{{ release.mirror_url }}/v2/{{ registry }}"]
  capabilities = ["pull"]
  override_path = true
HOSTS
mv "/etc/containerd/certs.d/{{ registry }}/hosts.toml.tmp" "/etc/containerd/certs.d/{{ registry }}/hosts.toml"
{% endfor %}
