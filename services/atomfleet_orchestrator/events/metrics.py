"""The events process's metrics (served on ATOMFLEET_METRICS_PORT by `atomfleet events`)."""

from prometheus_client import Counter, Gauge

STREAMS = Gauge("atomfleet_events_streams", "Server-Sent Events streams open in this process")
SENT = Counter("atomfleet_events_sent_total", "Events sent to streams")
