"""The kubelet API check's identity: a ServiceAccount that exists only while the check runs.

The tutorial binds ServiceAccount `default/kubelet-api-test` to `system:kubelet-api-admin` and
leaves it there; `nodes/proxy` lets its holder exec into any pod on any node, and anyone who
may create pods in `default` can mount its token. Here the check makes its own account in
`kube-system` and the binding, asks the TokenRequest API for a token of the shortest lifetime
it grants, and deletes both when the check ends, passed or failed: deleting the account
revokes the token at once (a kubelet may honour it for as long as it caches its TokenReview
answer, 2 minutes by default).

The API server obeys a new binding only once its authorizer's cache has it; a kubelet asked
before that answers 403 and keeps that answer for 30 seconds. So the token is handed out only
once a SubjectAccessReview (the kubelet's own question) says the account may read metrics.

Fixed names, one a stack (two stacks of one cluster may verify at once), labelled as ours: a
run interrupted between making and removing them leaves them to the next run, which uses and
removes them. An object of that name without the label is someone else's: the check refuses
to start rather than delete it at its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components.cluster.stack_names import stack_label

NAMESPACE = "kube-system"
NAME_PREFIX = "kubelet-api-verification"
CLUSTER_ROLE = "system:kubelet-api-admin"
TOKEN_SECONDS = 600  # the shortest lifetime the TokenRequest API grants
GRANT_WAIT_SECONDS = 30  # RBAC takes well under a second to obey a new binding
GRANT_POLL_SECONDS = 0.2
MANAGED_BY = ("app.kubernetes.io/managed-by", "kubelet-bootstrap")


def identity_name(stack: str) -> str:
    """The account's and binding's name for `stack` (`stack_names.stack_label`)."""
    return f"{NAME_PREFIX}-{stack_label(stack)}"


class IdentityError(Exception):
    """The check's identity could not be made or removed; the message says what to do."""


class VerificationIdentity:
    """`with VerificationIdentity(api, log, name) as token:` a bearer token allowed the kubelet
    API, for `api`, the admin kubeconfig's `kubernetes.client.ApiClient`, from the account and
    binding `name` (`identity_name`)."""

    def __init__(self, api: client.ApiClient, log: Callable[[str], None], name: str) -> None:
        self.name = name
        self.account = f"ServiceAccount {NAMESPACE}/{name}"
        self.binding = f"ClusterRoleBinding {name}"
        self._remove_by_hand = {
            self.account: f"kubectl -n {NAMESPACE} delete serviceaccount {name}",
            self.binding: f"kubectl delete clusterrolebinding {name}",
        }
        self._core = client.CoreV1Api(api)
        self._rbac = client.RbacAuthorizationV1Api(api)
        self._authorization = client.AuthorizationV1Api(api)
        self._log = log
        self._made: list[str] = []  # what to remove at the end, in the order made

    def __enter__(self) -> str:
        try:
            self._make(self.account, self._create_account, self._read_account)
            self._make(self.binding, self._create_binding, self._read_binding)
            self._wait_until_granted()
            token = self._token()
        except BaseException as error:
            self._remove(failed=error)
            raise
        self._log(f"verifying as {self.account}, bound to {CLUSTER_ROLE} for the check only")
        return token

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._remove(failed=error)

    # making

    def _make(self, what: str, create: Callable[[], None], read: Callable[[], Any]) -> None:
        """Create an object, or take over the one an interrupted check left."""
        try:
            create()
        except ApiException as error:
            if error.status != 409:
                raise
            labels = read().metadata.labels or {}
            if labels.get(MANAGED_BY[0]) != MANAGED_BY[1]:
                raise IdentityError(
                    f"{what} exists and was not made by kubelet-bootstrap (no label "
                    f"{MANAGED_BY[0]}={MANAGED_BY[1]}): the check would delete it; "
                    "rename or remove it"
                ) from None
        self._made.append(what)

    def _create_account(self) -> None:
        body = client.V1ServiceAccount(metadata=self._metadata(namespace=NAMESPACE))
        self._core.create_namespaced_service_account(NAMESPACE, body)

    def _read_account(self) -> Any:
        return self._core.read_namespaced_service_account(self.name, NAMESPACE)

    def _create_binding(self) -> None:
        body = client.V1ClusterRoleBinding(
            metadata=self._metadata(),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=CLUSTER_ROLE
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name=self.name, namespace=NAMESPACE)
            ],
        )
        self._rbac.create_cluster_role_binding(body)

    def _read_binding(self) -> Any:
        return self._rbac.read_cluster_role_binding(self.name)

    def _wait_until_granted(self) -> None:
        """Until the API server lets the account `get nodes/metrics`, as the kubelet will ask."""
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=f"system:serviceaccount:{NAMESPACE}:{self.name}",
                groups=[
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{NAMESPACE}",
                    "system:authenticated",
                ],
                resource_attributes=client.V1ResourceAttributes(
                    verb="get", resource="nodes", subresource="metrics"
                ),
            )
        )
        deadline = time.monotonic() + GRANT_WAIT_SECONDS
        while not self._authorization.create_subject_access_review(review).status.allowed:
            if time.monotonic() + GRANT_POLL_SECONDS > deadline:
                raise IdentityError(
                    f"the API server does not let {self.account} get nodes/metrics "
                    f"{GRANT_WAIT_SECONDS:g}s after {self.binding} bound it to {CLUSTER_ROLE}: has "
                    f"that ClusterRole been changed? (`kubectl get clusterrole {CLUSTER_ROLE} "
                    "-o yaml`)"
                )
            time.sleep(GRANT_POLL_SECONDS)

    def _token(self) -> str:
        """A token of the account from the TokenRequest API; never stored, never logged."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=TOKEN_SECONDS)
        )
        response = self._core.create_namespaced_service_account_token(self.name, NAMESPACE, request)
        return response.status.token

    # removing

    def _remove(self, failed: BaseException | None) -> None:
        """The binding first (no more grants), then the account (its tokens revoked).

        What cannot be removed is named with the command that removes it: as the failure when
        the check passed, as a log line when the check's own failure is the one to report.
        """
        deleters = {
            self.binding: lambda: self._rbac.delete_cluster_role_binding(self.name),
            self.account: lambda: self._core.delete_namespaced_service_account(
                self.name, NAMESPACE
            ),
        }
        removed, left = [], {}
        for what in (self.binding, self.account):
            if what not in self._made:
                continue
            try:
                deleters[what]()
            except ApiException as error:
                if error.status != 404:
                    left[what] = f"{error.status} {error.reason}"
                    continue
            removed.append(what)
        self._made = []
        if removed:
            self._log(f"removed {' and '.join(removed)}")
        if not left:
            return
        message = (
            "could not remove "
            + ", ".join(f"{what} ({why})" for what, why in left.items())
            + ": remove by hand with "
            + "; ".join(self._remove_by_hand[what] for what in left)
        )
        if failed is None:
            raise IdentityError(message)
        self._log(message)

    def _metadata(self, **kwargs: str) -> client.V1ObjectMeta:
        return client.V1ObjectMeta(name=self.name, labels=dict([MANAGED_BY]), **kwargs)
