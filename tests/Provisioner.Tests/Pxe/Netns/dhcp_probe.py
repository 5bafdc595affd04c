#!/usr/bin/env python3
"""Scripted DHCP client for the ProxyDHCP namespace tests (run inside the client network namespace).

  dhcp_probe.py discover IFACE MAC [--vendor S] [--arch N] [--user-class S] [--opt175] [--uuid] [--wait SEC]
      Broadcasts one DHCPDISCOVER from 0.0.0.0:68 and prints every reply as one JSON line.
  dhcp_probe.py noise IFACE MAC --count N
      Broadcasts N random and mutated datagrams to port 67 (MAC seeds the mutations' base packet).
  dhcp_probe.py request IFACE MAC --server ADDR --port P --ciaddr ADDR [--requested ADDR] [--server-id ADDR] [options as above]
      Sends one DHCPREQUEST (to ADDR:P, or broadcast when ADDR is 255.255.255.255) and prints the replies.

Only the standard library; replies are decoded just far enough for the test to assert on them.
"""
import argparse, json, os, random, socket, struct, sys, time

SO_BINDTODEVICE = 25


def options_bytes(opts):
    out = b""
    for code, data in opts:
        out += bytes([code, len(data)]) + data
    return out + b"\xff"


def build(msgtype, mac, xid, ciaddr, args):
    opts = [(53, bytes([msgtype]))]
    if args.vendor:
        opts.append((60, args.vendor.encode()))
    if args.arch is not None:
        opts.append((93, struct.pack("!H", args.arch)))
    if args.user_class:
        opts.append((77, args.user_class.encode()))
    if args.opt175:
        opts.append((175, bytes([0x13, 1, 1])))
    if args.uuid:
        opts.append((97, bytes([0]) + bytes(range(1, 17))))
    if args.requested:
        opts.append((50, socket.inet_aton(args.requested)))
    if args.server_id:
        opts.append((54, socket.inet_aton(args.server_id)))
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128sI", 1, 1, 6, 0, xid, 0, 0x8000, socket.inet_aton(ciaddr),
                         b"\0" * 4, b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"\0" * 64, b"\0" * 128, 0x63825363)
    packet = header + options_bytes(opts)
    return packet + b"\0" * max(0, 300 - len(packet))


def decode(data, source):
    if len(data) < 240:
        return None
    op, _, _, _, xid, _, _, ciaddr, yiaddr, siaddr, _, chaddr, _, file_, cookie = struct.unpack(
        "!BBBBIHH4s4s4s4s16s64s128sI", data[:240])
    opts, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, length = data[i], data[i + 1]
        opts[code] = opts.get(code, b"") + data[i + 2:i + 2 + length]
        i += 2 + length
    return {
        "source": "%s:%d" % source, "op": op, "xid": xid, "mac": chaddr[:6].hex(":"),
        "ciaddr": socket.inet_ntoa(ciaddr), "yiaddr": socket.inet_ntoa(yiaddr), "siaddr": socket.inet_ntoa(siaddr),
        "file": file_.split(b"\0", 1)[0].decode("latin-1"),
        "type": opts.get(53, b"\0")[0],
        "server_id": socket.inet_ntoa(opts[54]) if len(opts.get(54, b"")) == 4 else None,
        "vendor": opts[60].decode("latin-1") if 60 in opts else None,
        "bootfile_option": opts[67].decode("latin-1") if 67 in opts else None,
        "uuid": opts[97].hex() if 97 in opts else None,
        "pxe_options": opts[43].hex() if 43 in opts else None,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["discover", "request", "noise"])
    p.add_argument("iface")
    p.add_argument("mac")
    p.add_argument("--vendor")
    p.add_argument("--arch", type=int)
    p.add_argument("--user-class")
    p.add_argument("--opt175", action="store_true")
    p.add_argument("--uuid", action="store_true")
    p.add_argument("--server", default="255.255.255.255")
    p.add_argument("--port", type=int, default=67)
    p.add_argument("--ciaddr", default="0.0.0.0")
    p.add_argument("--requested")
    p.add_argument("--server-id")
    p.add_argument("--xid", type=lambda s: int(s, 0))
    p.add_argument("--wait", type=float, default=3.0)
    p.add_argument("--count", type=int, default=500)
    args = p.parse_args()

    mac = bytes.fromhex(args.mac.replace(":", ""))
    xid = args.xid if args.xid is not None else struct.unpack("!I", os.urandom(4))[0]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, args.iface.encode() + b"\0")
    s.bind(("0.0.0.0", 68))
    if args.mode == "noise":
        rng = random.Random(6)
        base = build(1, mac, xid, args.ciaddr, args)
        for i in range(args.count):
            if i % 3 == 0:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 1500)))
            else:
                data = bytearray(base[:rng.randrange(len(base) + 1)] if i % 5 == 0 else base)
                for _ in range(rng.randrange(1, 8)):
                    if data:
                        data[rng.randrange(len(data))] = rng.getrandbits(8)
                data = bytes(data)
            s.sendto(data, ("255.255.255.255", 67))
        return 0
    msgtype = 1 if args.mode == "discover" else 3
    server = "255.255.255.255" if args.mode == "discover" else args.server
    s.sendto(build(msgtype, mac, xid, args.ciaddr, args), (server, args.port))

    deadline = time.monotonic() + args.wait
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        s.settimeout(remaining)
        try:
            data, source = s.recvfrom(4096)
        except socket.timeout:
            break
        reply = decode(data, source)
        if reply and reply["op"] == 2 and reply["xid"] == xid:
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    sys.exit(main())
