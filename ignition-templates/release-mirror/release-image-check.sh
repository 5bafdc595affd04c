#!/bin/bash
# Rendered by Provisioner for {{ machine.name }}: every image of Kubernetes release {{ release.kubernetes_version }}
# must be pullable by digest (through the bootstrap host's mirror) before the kubelet starts.
set -u
images=(
{% for image in release.images %}  "{{ image.pinned }}"  # {{ image.component }} {{ image.reference }}
{% endfor %})
for attempt in $(seq 1 60); do
  missing=0
  for image in "${images[@]}"; do
    if ! podman pull --quiet "$image" >/dev/null; then
      echo "release-image: cannot pull $image yet (attempt $attempt)" >&2
      missing=$((missing + 1))
    fi
  done
  if [ "$missing" -eq 0 ]; then
    echo "release-image: all ${#images[@]} images of {{ release.kubernetes_version }} are pullable by digest"
    exit 0
  fi
  sleep 10
done
echo "release-image: $missing image(s) still not pullable; giving up" >&2
exit 1
