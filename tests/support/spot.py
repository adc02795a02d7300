"""Spot requests as AWS keeps them, in front of an emulator that keeps none (/work/shared/aws-on-moto.md).

On AWS, RunInstances with spot market options creates a spot instance request, tagged from the TagSpecifications
of type ``spot-instances-request``, and links the instance to it (``SpotInstanceRequestId`` in DescribeInstances).
A persistent request must be cancelled before its instance is terminated, or EC2 launches it again. moto sets the
instance's lifecycle to spot and keeps no request, so this proxy plug-in keeps them::

    spot = SpotRequests(proxy)       # installs its rules and observer on the fault proxy
    ...
    spot.requests                    # {request id: {"instance": id, "tags": {...}, "state": "active"}}

It answers DescribeInstances with each spot instance's request id, and answers CancelSpotInstanceRequests and
DescribeSpotInstanceRequests from what it keeps.
"""

import re
import threading
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from tests.support.fault_proxy import Rule

NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def ec2_params(body):
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def tag_specifications(params):
    """{resource type: {key: value}} of an EC2 query request's TagSpecification.N."""
    found = {}
    for name, value in params.items():
        match = re.fullmatch(r"TagSpecification\.(\d+)\.ResourceType", name)
        if match:
            tags, index = {}, 1
            while "TagSpecification.{0}.Tag.{1}.Key".format(match.group(1), index) in params:
                key = params["TagSpecification.{0}.Tag.{1}.Key".format(match.group(1), index)]
                tags[key] = params.get("TagSpecification.{0}.Tag.{1}.Value".format(match.group(1), index), "")
                index += 1
            found.setdefault(value, {}).update(tags)
    return found


def listed(params, name):
    values, index = [], 1
    while "{0}.{1}".format(name, index) in params:
        values.append(params["{0}.{1}".format(name, index)])
        index += 1
    return values


class SpotRequests:
    def __init__(self, proxy):
        self.requests = {}
        self._lock = threading.Lock()
        proxy.observers.append(self)
        proxy.add(Rule("DescribeInstances", rewrite=[(re.compile(r"<instanceId>(i-[0-9a-f]+)</instanceId>"),
                                                      self._link)]))
        proxy.add(Rule("CancelSpotInstanceRequests", respond=self._cancel))
        proxy.add(Rule("DescribeSpotInstanceRequests", respond=self._describe))

    # observer: a spot launch that succeeded creates its request
    def before(self, call):
        return None

    def after(self, call, _before, status, body):
        if call.operation != "RunInstances" or status != 200:
            return
        params = ec2_params(call.body)
        if params.get("InstanceMarketOptions.MarketType") != "spot":
            return
        tags = tag_specifications(params).get("spot-instances-request", {})
        for instance_id in re.findall(r"<instanceId>(i-[0-9a-f]+)</instanceId>", body.decode("utf-8", "replace")):
            with self._lock:
                self.requests[self.request_id(instance_id)] = {"instance": instance_id, "tags": dict(tags),
                                                               "state": "active"}

    @staticmethod
    def request_id(instance_id):
        return "sir-" + instance_id[2:12]

    def of_instance(self, instance_id):
        with self._lock:
            return next((rid for rid, r in self.requests.items() if r["instance"] == instance_id), None)

    def tags(self, request_id):
        with self._lock:
            found = self.requests.get(request_id)
            return dict(found["tags"]) if found else None

    def _link(self, match):
        request_id = self.of_instance(match.group(1))
        if request_id is None:
            return match.group(0)
        return match.group(0) + "<spotInstanceRequestId>{0}</spotInstanceRequestId>".format(request_id)

    def _cancel(self, call):
        ids = listed(ec2_params(call.body), "SpotInstanceRequestId")
        items = []
        with self._lock:
            for request_id in ids:
                if request_id not in self.requests:
                    return 400, ('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>'
                                 'InvalidSpotInstanceRequestID.NotFound</Code><Message>The spot instance request ID '
                                 "'{0}' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>"
                                 .format(request_id)), {"Content-Type": "text/xml"}
                self.requests[request_id]["state"] = "cancelled"
                items.append("<item><spotInstanceRequestId>{0}</spotInstanceRequestId><state>cancelled</state></item>"
                             .format(request_id))
        return 200, ('<CancelSpotInstanceRequestsResponse xmlns="{0}"><requestId>r</requestId><spotInstanceRequestSet>'
                     "{1}</spotInstanceRequestSet></CancelSpotInstanceRequestsResponse>".format(NS, "".join(items))), {
            "Content-Type": "text/xml"}

    def _describe(self, call):
        wanted = listed(ec2_params(call.body), "SpotInstanceRequestId")
        items = []
        with self._lock:
            for request_id, request in sorted(self.requests.items()):
                if wanted and request_id not in wanted:
                    continue
                tags = "".join("<item><key>{0}</key><value>{1}</value></item>".format(escape(k), escape(v))
                               for k, v in request["tags"].items())
                items.append("<item><spotInstanceRequestId>{0}</spotInstanceRequestId><state>{1}</state>"
                             "<type>persistent</type><instanceId>{2}</instanceId><tagSet>{3}</tagSet></item>".format(
                                 request_id, request["state"], request["instance"], tags))
        return 200, ('<DescribeSpotInstanceRequestsResponse xmlns="{0}"><requestId>r</requestId>'
                     "<spotInstanceRequestSet>{1}</spotInstanceRequestSet></DescribeSpotInstanceRequestsResponse>"
                     .format(NS, "".join(items))), {"Content-Type": "text/xml"}
