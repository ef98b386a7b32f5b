"""Prometheus metrics, on a registry of the app's own (two apps in one process never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("citypatrol_frames", "Frames received, by outcome", ["outcome"], registry=r)
        self.stage_seconds = Histogram(
            "citypatrol_stage_seconds", "Time per ingest stage", ["stage"], buckets=STAGE_BUCKETS, registry=r
        )
        self.detections = Counter("citypatrol_detections", "Detections by class", ["cls"], registry=r)
        self.incident_changes = Counter(
            "citypatrol_incident_changes", "Incident changes by code and change", ["code", "change"], registry=r
        )
        self.incidents = Gauge("citypatrol_incidents", "Incidents by code and status", ["code", "status"], registry=r)
        self.second_look_crops = Counter(
            "citypatrol_second_look_crops", "Wall crops detected again at full resolution", registry=r)
        self.queue_depth = Gauge("citypatrol_detector_queue_depth", "Frames waiting for the detector", registry=r)
        self.http_requests = Counter(
            "citypatrol_http_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
