"""`aiprod_receiver`: a webhook receiver of the test's own, with programmable answers."""

from __future__ import annotations

from .conftest import Inner

RECEIVING = """
    import pytest

    from aiprod_sandbox import verify

    def test_a_signed_delivery_arrives(aiprod_account, aiprod_receiver):
        webhook = aiprod_account.register_webhook(aiprod_receiver.url)
        aiprod_receiver.secret = webhook["secret"]
        job_id = aiprod_account.submit()["job_id"]

        (delivery,) = aiprod_receiver.wait_for("job.completed")

        assert delivery.signature_valid is True
        assert verify(webhook["secret"], delivery.body, delivery.headers["x-aiprod-signature"])
        assert delivery.json()["data"]["job_id"] == job_id
        assert delivery.json()["webhook_id"] == webhook["webhook_id"]
        assert delivery.delivery_id.startswith("dlv_")
        assert delivery.attempt == 1
        assert delivery.status == 200
        assert aiprod_receiver.events() == [
            "job.started", "job.progress", "job.progress", "job.progress", "job.completed"
        ]

    def test_a_wrong_secret_shows(aiprod_account, aiprod_receiver):
        aiprod_account.register_webhook(aiprod_receiver.url, events=["job.completed"])
        aiprod_receiver.secret = "whsec_not_the_right_one"
        aiprod_account.submit()
        assert aiprod_receiver.wait_for("job.completed")[0].signature_valid is False

    def test_without_a_secret_nothing_is_checked(aiprod_account, aiprod_receiver):
        aiprod_account.register_webhook(aiprod_receiver.url, events=["job.completed"])
        aiprod_account.submit()
        assert aiprod_receiver.wait_for("job.completed")[0].signature_valid is None

    def test_count_waits_for_several(aiprod_account, aiprod_receiver):
        aiprod_account.register_webhook(aiprod_receiver.url, events=["job.completed"])
        first, second = aiprod_account.submit(), aiprod_account.submit()
        arrived = aiprod_receiver.wait_for("job.completed", count=2)
        assert {d.json()["data"]["job_id"] for d in arrived} == {
            first["job_id"], second["job_id"]
        }

    def test_receivers_are_apart(aiprod_receiver, request):
        urls = request.config.stash.setdefault(URLS, [])
        assert aiprod_receiver.url not in urls
        assert aiprod_receiver.received == []
        urls.append(aiprod_receiver.url)

    URLS = pytest.StashKey[list]()

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_retries_walk_the_schedule(aiprod_account, aiprod_receiver):
        webhook = aiprod_account.register_webhook(aiprod_receiver.url, events=["job.completed"])
        aiprod_receiver.secret = webhook["secret"]
        aiprod_receiver.respond_with(500, 500)  # then the default, 200
        aiprod_account.submit()
        aiprod_receiver.wait_for("job.completed")  # the first attempt goes out at once

        aiprod_account.clock.advance(60)  # retries at +1 s and +6 s

        got = aiprod_receiver.received
        assert [d.attempt for d in got] == [1, 2, 3]
        assert [d.status for d in got] == [500, 500, 200]
        assert len({d.delivery_id for d in got}) == 1
        assert len({d.body for d in got}) == 1
        assert all(d.signature_valid for d in got)
        (logged,) = aiprod_account.deliveries()
        assert logged["status"] == "delivered"
        assert [a["response_status"] for a in logged["attempts"]] == [500, 500, 200]

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_retries_one_step_at_a_time(aiprod_account, aiprod_receiver):
        aiprod_account.register_webhook(aiprod_receiver.url, events=["job.completed"])
        aiprod_receiver.respond_with(503, default=500)
        aiprod_account.submit()
        aiprod_receiver.wait_for("job.completed")
        assert aiprod_account.clock.advance(0.5)["ran"] == []  # nothing due yet
        aiprod_account.clock.advance(0.5)
        assert [d.attempt for d in aiprod_receiver.received] == [1, 2]
        assert [d.status for d in aiprod_receiver.received] == [503, 500]
"""


NEVER_COMES = """
    def test_waits_for_a_failure_that_never_comes(aiprod_account, aiprod_receiver):
        aiprod_account.register_webhook(aiprod_receiver.url)
        aiprod_account.submit()
        aiprod_receiver.wait_for("job.completed")
        aiprod_receiver.wait_for("job.failed", timeout=0.2)

    def test_nothing_at_all(aiprod_receiver):
        aiprod_receiver.wait_for("job.completed", timeout=0.1, count=2)
"""


def test_receiving_verifying_retrying_and_waiting_in_vain(inner: Inner) -> None:
    result = inner.suite(test_receiving=RECEIVING, test_never_comes=NEVER_COMES)
    result.assert_outcomes(passed=7, failed=2)
    # wait_for says what came instead
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: no 1 * job.failed reached http://127.0.0.1:*/r/* within 0.2 s; "
            "5 deliveries arrived:",
            "*job.started  delivery dlv_*  attempt 1  * answered 200",
            "*job.progress  delivery dlv_*  attempt 1  * answered 200",
            "*job.progress  delivery dlv_*  attempt 1  * answered 200",
            "*job.progress  delivery dlv_*  attempt 1  * answered 200",
            "*job.completed  delivery dlv_*  attempt 1  * answered 200",
            "*AssertionError: no 2 * job.completed reached http://127.0.0.1:*/r/* within 0.1 s; "
            "0 deliveries arrived:",
            "*(nothing)",
        ]
    )


REACHABLE = """
    def test_the_receiver_is_reached_at_the_advertised_host(aiprod_account, aiprod_receiver):
        assert aiprod_receiver.url.startswith("http://127.0.0.2:")
        aiprod_account.register_webhook(aiprod_receiver.url, events=["job.completed"])
        aiprod_account.submit()
        aiprod_receiver.wait_for("job.completed", timeout=0.5)
"""


def test_the_receiver_host_option_gives_a_reachable_url(inner: Inner) -> None:
    """--aiprod-receiver-host names where the sandbox reaches the receiver (a container:
    host.docker.internal). 127.0.0.2 is this machine too, by another address than the
    default, so the receiver must listen there."""
    result = inner.suite("--aiprod-receiver-host", "127.0.0.2", test_reachable=REACHABLE)
    result.assert_outcomes(passed=1)
