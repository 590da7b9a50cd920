"""Checks of per-route settings, match kinds, load balancing and TCP routes (MR280-MR288, and MR101, MR111, MR112,
MR120, MR121, MR122 on per-route settings). Each trips on a bad config and stays quiet on a near miss; the cases
join test_checks_traps.TRAP_CASES, which runs them."""

from __future__ import annotations

from test_checks import BETA, ERROR, WARNING, Case, canary, found, mesh, run, svc

TCP_DB = [{"port": 5432, "name": "tcp-postgres"}]
STICKY_COOKIE = {"consistentHash": {"httpCookie": {"name": "session", "ttl": "1h"}}}

ROUTE_CASES = [
    # MR280: the same value as the default is a warning; another value is the point of an override.
    Case("MR280", "MR280",
         mesh({"payment": canary(timeout="5s", matches=[{"name": "beta", "headers": BETA, "version": "v2",
                                                         "timeout": "5s"}])}),
         [(WARNING, "mesh.services.payment.traffic.matches.0.timeout")],
         mesh({"payment": canary(timeout="5s", matches=[{"name": "beta", "headers": BETA, "version": "v2",
                                                         "timeout": "9s"}])})),
    Case("MR280-default-route-retries", "MR280",
         mesh({"payment": canary(retries={"attempts": 2}, defaultRoute={"retries": {"attempts": 2}})}),
         [(WARNING, "mesh.services.payment.traffic.defaultRoute.retries")],
         mesh({"payment": canary(retries={"attempts": 2}, defaultRoute={"retries": {"attempts": 0}})})),
    # MR281: a redirect rule that names a version; the near miss redirects alone.
    Case("MR281", "MR281",
         mesh({"payment": canary(matches=[{"name": "old", "uri": {"prefix": "/v1"}, "redirect": {"uri": "/"},
                                           "version": "v2"}])}),
         [(ERROR, "mesh.services.payment.traffic.matches.0.version")],
         mesh({"payment": canary(matches=[{"name": "old", "uri": {"prefix": "/v1"}, "redirect": {"uri": "/"}}])})),
    Case("MR281-default-route", "MR281",
         mesh({"payment": canary(split={"v1": 100}, defaultRoute={"redirect": {"authority": "pay.example.com"}})}),
         [(ERROR, "mesh.services.payment.traffic.split")],
         mesh({"payment": canary(defaultRoute={"redirect": {"authority": "pay.example.com"}})})),
    # MR282: credentials with any origin; exact origins with credentials are fine.
    Case("MR282", "MR282",
         mesh({"api": svc(traffic={"defaultRoute": {"cors": {
             "allowOrigins": [{"exact": "https://shop.example.com"}, {"regex": ".*"}], "allowCredentials": True}}})}),
         [(ERROR, "mesh.services.api.traffic.defaultRoute.cors.allowOrigins.1")],
         mesh({"api": svc(traffic={"defaultRoute": {"cors": {
             "allowOrigins": [{"exact": "https://shop.example.com"}, {"regex": r"https://[a-z]+\.example\.com"}],
             "allowCredentials": True}}})})),
    Case("MR282-prefix-scheme", "MR282",
         mesh({"api": canary(matches=[{"name": "web", "uriPrefix": "/web", "version": "v1", "cors": {
             "allowOrigins": [{"prefix": "https://"}], "allowCredentials": True}}])}),
         [(ERROR, "mesh.services.api.traffic.matches.0.cors.allowOrigins.0")],
         # Any origin without credentials is a public API, not a leak.
         mesh({"api": canary(matches=[{"name": "web", "uriPrefix": "/web", "version": "v1", "cors": {
             "allowOrigins": [{"prefix": "https://"}]}}])})),
    # MR283: a hash header no match requires; the near miss hashes on the header the beta match requires.
    Case("MR283", "MR283",
         mesh({"cart": svc(traffic={"loadBalancer": {"consistentHash": {"httpHeaderName": "x-session"}}})}),
         [(WARNING, "mesh.services.cart.traffic.loadBalancer.consistentHash.httpHeaderName")],
         mesh({"cart": canary(matches=[{"name": "beta", "headers": {"X-User-Segment": {"exact": "beta"}},
                                        "version": "v2"}],
                              loadBalancer={"consistentHash": {"httpHeaderName": "x-user-segment"}})})),
    # MR284: the port balances by LEAST_REQUEST while the service hashes; the near miss keeps the hash.
    Case("MR284", "MR284",
         mesh({"cart": svc(ports=[{"port": 8080, "name": "http-web"}], traffic={
             "loadBalancer": STICKY_COOKIE, "portPolicies": {8080: {"loadBalancer": {"simple": "LEAST_REQUEST"}}}})}),
         [(WARNING, "mesh.services.cart.traffic.portPolicies.8080.loadBalancer.simple")],
         mesh({"cart": svc(ports=[{"port": 8080, "name": "http-web"}], traffic={
             "loadBalancer": STICKY_COOKIE, "portPolicies": {8080: {"circuitBreaker": {"maxConnections": 10}}}})})),
    # MR285: sticky sessions with a 90/10 split; all weight on one version is fine.
    Case("MR285", "MR285",
         mesh({"cart": canary(split={"v1": 90, "v2": 10}, loadBalancer=STICKY_COOKIE)}),
         [(WARNING, "mesh.services.cart.traffic.loadBalancer.consistentHash")],
         mesh({"cart": canary(split={"v1": 100, "v2": 0}, loadBalancer=STICKY_COOKIE)})),
    # MR286: failover with no circuit breaker; the near miss has one (distribute needs none either).
    Case("MR286", "MR286",
         mesh({"catalog": svc(traffic={"loadBalancer": {"localityLbSetting": {
             "failover": [{"from": "us-east", "to": "us-west"}]}}})}),
         [(ERROR, "mesh.services.catalog.traffic.loadBalancer.localityLbSetting.failover")],
         mesh({"catalog": svc(traffic={"circuitBreaker": {}, "loadBalancer": {"localityLbSetting": {
             "failover": [{"from": "us-east", "to": "us-west"}]}}})})),
    Case("MR286-port", "MR286",
         mesh({"catalog": svc(ports=[{"port": 80, "name": "http"}], traffic={"portPolicies": {80: {
             "loadBalancer": {"localityLbSetting": {"failover": [{"from": "eu", "to": "us"}]}}}}})}),
         [(ERROR, "mesh.services.catalog.traffic.portPolicies.80.loadBalancer.localityLbSetting.failover")],
         mesh({"catalog": svc(ports=[{"port": 80, "name": "http"}], traffic={"portPolicies": {80: {
             "circuitBreaker": {"consecutive5xxErrors": 3},
             "loadBalancer": {"localityLbSetting": {"failover": [{"from": "eu", "to": "us"}]}}}}})})),
    # MR287: a timeout on a TCP-only service; the split alone is what TCP routes carry.
    Case("MR287", "MR287",
         mesh({"db": svc(ports=TCP_DB, versions={"v1": {}, "v2": {}},
                         traffic={"split": {"v1": 80, "v2": 20}, "timeout": "2s"})}),
         [(ERROR, "mesh.services.db.traffic.timeout")],
         mesh({"db": svc(ports=TCP_DB, versions={"v1": {}, "v2": {}}, traffic={"split": {"v1": 80, "v2": 20}})})),
    # A service with an HTTP port next to the TCP one keeps its HTTP settings.
    Case("MR287-mixed-ports-are-fine", "MR287",
         mesh({"db": svc(ports=[{"port": 6379, "name": "redis"}], versions={"v1": {}},
                         traffic={"matches": [{"name": "x", "uriPrefix": "/x", "version": "v1"}]})}),
         [(ERROR, "mesh.services.db.traffic.matches")],
         mesh({"db": svc(ports=[{"port": 6379, "name": "redis"}, {"port": 80, "name": "http"}], versions={"v1": {}},
                         traffic={"matches": [{"name": "x", "uriPrefix": "/x", "version": "v1"}]})})),
    # MR288: a policy for an undeclared port; without declared ports nothing is known, so nothing is reported.
    Case("MR288", "MR288",
         mesh({"cart": svc(ports=[{"port": 80, "name": "http"}],
                           traffic={"portPolicies": {8080: {"loadBalancer": {"simple": "LEAST_REQUEST"}}}})}),
         [(ERROR, "mesh.services.cart.traffic.portPolicies.8080")],
         mesh({"cart": svc(traffic={"portPolicies": {8080: {"loadBalancer": {"simple": "LEAST_REQUEST"}}}})})),
    # Older checks on per-route settings: a route's own retries against the service timeout it inherits (MR120).
    Case("MR120-route-override", "MR120",
         mesh({"order": canary(timeout="2s", matches=[{"name": "slow", "uriPrefix": "/report", "version": "v1",
                                                       "retries": {"attempts": 3, "perTryTimeout": "1s"}}])}),
         [(WARNING, "mesh.services.order.traffic.matches.0.retries")],
         mesh({"order": canary(timeout="2s", matches=[{"name": "slow", "uriPrefix": "/report", "version": "v1",
                                                       "timeout": "4s",
                                                       "retries": {"attempts": 3, "perTryTimeout": "1s"}}])})),
    # timeout: null turns the service timeout off on the default route only: a match that inherits both the timeout
    # and the retries still clashes, and is reported at the service default (the near miss has no such match).
    Case("MR120-timeout-off-on-default", "MR120",
         mesh({"order": canary(timeout="2s", retries={"attempts": 3, "perTryTimeout": "1s"},
                               defaultRoute={"timeout": None},
                               matches=[{"name": "beta", "headers": BETA, "version": "v2"}])}),
         [(WARNING, "mesh.services.order.traffic.retries")],
         mesh({"order": canary(timeout="2s", retries={"attempts": 3, "perTryTimeout": "1s"},
                               defaultRoute={"timeout": None})})),
    Case("MR122-route-fault", "MR122",
         mesh({"payment": canary(defaultRoute={"fault": {"delay": {"percent": 5, "fixedDelay": "1s"}}})},
              production=True, allowMutableTags=True),  # image pinning is MR240/MR241's business
         [(ERROR, "mesh.services.payment.traffic.defaultRoute.fault")],
         mesh({"payment": canary(defaultRoute={"fault": {"delay": {"percent": 5, "fixedDelay": "1s"}}})},
              production=False)),
    Case("MR101-route-mirror", "MR101",
         mesh({"payment": canary(matches=[{"name": "beta", "headers": BETA, "version": "v1",
                                           "mirror": {"version": "v3"}}])}),
         [(ERROR, "mesh.services.payment.traffic.matches.0.mirror.version")],
         mesh({"payment": canary(matches=[{"name": "beta", "headers": BETA, "version": "v1",
                                           "mirror": {"version": "v2"}}])})),
    Case("MR111-default-route-mirror", "MR111",
         mesh({"payment": canary(defaultRoute={"mirror": {"service": "nowhere"}})}),
         [(ERROR, "mesh.services.payment.traffic.defaultRoute.mirror.service")],
         mesh({"payment": canary(defaultRoute={"mirror": {"service": "audit"}}), "audit": svc()})),
    # MR112 with the new match kinds: uri exact under an earlier prefix, a method, query parameters.
    Case("MR112-uri-exact-under-prefix", "MR112",
         mesh({"payment": canary(matches=[{"name": "api", "uri": {"prefix": "/api"}, "version": "v1"},
                                          {"name": "health", "uri": {"exact": "/api/health"}, "version": "v2"}])}),
         [(ERROR, "mesh.services.payment.traffic.matches.1")],
         mesh({"payment": canary(matches=[{"name": "health", "uri": {"exact": "/api/health"}, "version": "v2"},
                                          {"name": "api", "uri": {"prefix": "/api"}, "version": "v1"}])})),
    Case("MR112-method-and-query", "MR112",
         mesh({"payment": canary(matches=[
             {"name": "posts", "method": {"exact": "POST"}, "version": "v1"},
             {"name": "debug-posts", "method": {"exact": "POST"}, "queryParams": {"debug": {"exact": "1"}},
              "version": "v2"}])}),
         [(ERROR, "mesh.services.payment.traffic.matches.1")],
         # A withoutHeaders condition on the earlier rule leaves room for the later one (it requires the header).
         mesh({"payment": canary(matches=[
             {"name": "posts", "method": {"exact": "POST"}, "withoutHeaders": {"x-debug": {"exact": "1"}},
              "version": "v1"},
             {"name": "debug-posts", "method": {"exact": "POST"}, "headers": {"x-debug": {"exact": "1"}},
              "version": "v2"}])})),
    # Same destination but a different timeout: the dead rule's settings are lost, so it is an error.
    Case("MR112-same-destination-other-settings", "MR112",
         mesh({"payment": canary(matches=[{"name": "beta", "headers": BETA, "version": "v2"},
                                          {"name": "beta-slow", "headers": BETA, "uriPrefix": "/report",
                                           "version": "v2", "timeout": "30s"}])}),
         [(ERROR, "mesh.services.payment.traffic.matches.1")],
         mesh({"payment": canary(matches=[{"name": "beta-slow", "headers": BETA, "uriPrefix": "/report",
                                           "version": "v2", "timeout": "30s"},
                                          {"name": "beta", "headers": BETA, "version": "v2"}])})),
]


def test_tcp_only_service_with_split_has_no_finding_and_http_settings_each_report():
    data = mesh({"db": svc(ports=TCP_DB, versions={"v1": {}, "v2": {}},
                           traffic={"split": {"v1": 80, "v2": 20}, "retries": {"attempts": 1},
                                    "matches": [{"name": "x", "uriPrefix": "/", "version": "v1"}]})})
    assert found(data, "MR287") == [(ERROR, "mesh.services.db.traffic.matches"),
                                    (ERROR, "mesh.services.db.traffic.retries")]


def test_route_retries_against_a_route_timeout_blame_the_route_once():
    data = mesh({"order": canary(matches=[{"name": "a", "uriPrefix": "/a", "version": "v1", "timeout": "1s",
                                           "retries": {"attempts": 2, "perTryTimeout": "1s"}}])})
    findings = [f for f in run(data) if f.code == "MR120"]
    assert [f.path for f in findings] == ["mesh.services.order.traffic.matches.0.retries"]
    assert "retries from the route, timeout from the route" in findings[0].message


def test_service_default_clash_is_reported_once_for_all_routes():
    data = mesh({"order": canary(timeout="1s", retries={"attempts": 2, "perTryTimeout": "1s"},
                                 matches=[{"name": "a", "uriPrefix": "/a", "version": "v1"},
                                          {"name": "b", "uriPrefix": "/b", "version": "v2"}])})
    assert found(data, "MR120") == [(WARNING, "mesh.services.order.traffic.retries")]


def test_a_redirect_route_inherits_no_defaults_so_no_retry_clash():
    data = mesh({"order": canary(timeout="1s", retries={"attempts": 2, "perTryTimeout": "1s"},
                                 defaultRoute={"timeout": "5s"},
                                 matches=[{"name": "old", "uriPrefix": "/old", "redirect": {"uri": "/new"}}])})
    assert found(data, "MR120") == []


def test_route_fault_percentage_is_checked_at_the_route():
    data = mesh({"payment": canary(matches=[{"name": "chaos", "headers": BETA, "version": "v1",
                                             "fault": {"abort": {"percent": 140, "httpStatus": 503}}}])})
    assert found(data, "MR121") == [(ERROR, "mesh.services.payment.traffic.matches.0.fault.abort.percent")]
    fixed = mesh({"payment": canary(matches=[{"name": "chaos", "headers": BETA, "version": "v1",
                                              "fault": {"abort": {"percent": 100, "httpStatus": 503}}}])})
    assert run(fixed) == []
