"""
paho-mqtt (Python) over WebSocket, for test/mqtt/24-paho-websocket.test.ts: connects with
transport="websockets" to ws(s)://HOST:PORT/PATH, subscribes to TOPIC at QoS 1, publishes
PAYLOAD there at QoS 1 and waits for it to come back. Prints one line per step on stdout
("connected 0", "subscribed [1]", "received TOPIC PAYLOAD", "acknowledged"); exits 0 once the
message came back, 1 with the reason on stderr otherwise (every wait bounded by --timeout).

Works with paho-mqtt 1.6 (Debian's python3-paho-mqtt) and 2.x.
"""
import argparse
import ssl
import sys
import threading

import paho.mqtt.client as mqtt

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--path", default="/mqtt")
parser.add_argument("--version", choices=["3.1.1", "5"], default="3.1.1")
parser.add_argument("--cafile", help="trust this CA and connect with TLS (wss://)")
parser.add_argument("--topic", required=True)
parser.add_argument("--payload", default="hello from paho")
parser.add_argument("--client-id", default="paho-ws")
parser.add_argument("--timeout", type=float, default=10.0)
args = parser.parse_args()

protocol = mqtt.MQTTv5 if args.version == "5" else mqtt.MQTTv311
kwargs = {"client_id": args.client_id, "protocol": protocol, "transport": "websockets"}
if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x asks which callback signatures we use
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs)
else:
    client = mqtt.Client(**kwargs)
client.ws_set_options(path=args.path)
if args.cafile:
    client.tls_set(ca_certs=args.cafile, cert_reqs=ssl.CERT_REQUIRED)

connected = threading.Event()
subscribed = threading.Event()
received = threading.Event()
failure = []


def code(value):
    """An int return code (MQTT 3.1.1) or a ReasonCodes object (MQTT 5) as a number."""
    return value.value if hasattr(value, "value") else int(value)


def on_connect(_client, _userdata, _flags, rc, _properties=None):
    print(f"connected {code(rc)}", flush=True)
    if code(rc) != 0:
        failure.append(f"CONNACK refused: {rc}")
    connected.set()


def on_subscribe(_client, _userdata, _mid, granted, _properties=None):
    print(f"subscribed {[code(g) for g in granted]}", flush=True)
    subscribed.set()


def on_message(_client, _userdata, message):
    print(f"received {message.topic} {message.payload.decode()}", flush=True)
    received.set()


client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message


def wait(event, what):
    if not event.wait(args.timeout):
        failure.append(f"no {what} within {args.timeout} s")
    if failure:
        print("; ".join(failure), file=sys.stderr, flush=True)
        client.loop_stop()
        sys.exit(1)


try:
    client.connect(args.host, args.port, keepalive=30)
except Exception as error:  # refused upgrade, TLS failure, nothing listening
    print(f"connect failed: {error}", file=sys.stderr, flush=True)
    sys.exit(1)
client.loop_start()
wait(connected, "CONNACK")
client.subscribe(args.topic, qos=1)
wait(subscribed, "SUBACK")
info = client.publish(args.topic, args.payload, qos=1)
wait(received, "message back")
info.wait_for_publish(args.timeout)
print("acknowledged" if info.is_published() else "no PUBACK", flush=True)
client.disconnect()
client.loop_stop()
