"""`CompletionsClient`: one backend (one server, or a pool of servers of the same
models), every Completions parameter honoured natively, emulated or refused
(see profiles.py).

Calls take an optional `affinity` key: requests with the same key prefer the
same server of the pool (a story's rounds reuse its prompt cache); see pool.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from bot.completions.emulation import enforce_stops, prepend_echo, rank_best_of
from bot.completions.http import BackendHTTP, Sleep
from bot.completions.logit_bias import Tokenizer, resolve_words
from bot.completions.parameters import MAX_SEED
from bot.completions.pool import ServerPool
from bot.completions.profiles import (
    PROFILES,
    BackendProfile,
    Support,
    detect_from_models,
    profile_for,
)
from bot.completions.request import CompletionRequest, best_of_with_stream
from bot.completions.result import Choice, CompletionResult, Usage
from bot.completions.streaming import CompletionStream, stream_chunks
from bot.completions.wire import CompletionResponse, ModelList, WireChoice, read
from bot.errors import BackendError, MalformedResponse, ParameterError
from bot.i18n import Localized, Msg, _, join

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

# Emulated n / best_of send this many requests at once; local servers queue
# them anyway, remote ones get a bounded burst.
EMULATION_CONCURRENCY = 4
# The model list used to check `model`: refreshed on a miss when older than
# MODELS_REFRESH s; after a failed listing, tried again after MODELS_RETRY s.
# A refusal shows at most MODELS_SHOWN names.
MODELS_REFRESH = 60.0
MODELS_RETRY = 300.0
MODELS_SHOWN = 10


def _best_of_emulated(req: CompletionRequest, profile: BackendProfile) -> bool:
    return req.wants_best_of and profile.supports("best_of") is not Support.NATIVE


def _candidates(req: CompletionRequest, profile: BackendProfile) -> int:
    """How many choices are generated: best_of's candidates when emulated, else n."""
    return req.best_of if _best_of_emulated(req, profile) and req.best_of else req.n


def _one_request(profile: BackendProfile, count: int) -> bool:
    return count == 1 or profile.supports("n") is Support.NATIVE


def _served(model: str, models: list[str]) -> bool:
    """Whether `model` names one of `models` (Ollama's implicit `:latest` tag included)."""
    return model in models or (":" not in model and f"{model}:latest" in models)


class CompletionsClient:
    """A client for one OpenAI-compatible `/v1/completions` backend (one or more servers)."""

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        api_key: SecretStr | str | None = None,
        backend: str = "auto",
        default_model: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        max_retry_after: float = 60.0,
        concurrency: int = EMULATION_CONCURRENCY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.base_urls = [url.rstrip("/") for url in urls]
        self.base_url = self.base_urls[0]
        self.backend = backend
        self.default_model = default_model
        self._profile: BackendProfile | None = None if backend == "auto" else profile_for(backend)
        servers = [
            BackendHTTP(
                url,
                backend_label=backend if backend != "auto" else "completions",
                api_key=api_key,
                timeout=timeout,
                max_retries=max_retries,
                max_retry_after=max_retry_after,
                transport=transport,
            )
            for url in self.base_urls
        ]
        self.http = ServerPool(servers, max_retries=max_retries, sleep=sleep)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._models: list[str] | None = None
        self._models_body: Any = None
        # Monotonic times of the last model listing made for a check, and of the last failure.
        self._models_listed_at = 0.0
        self._models_failed_at = -MODELS_RETRY
        self._lock = asyncio.Lock()
        self._detect_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> CompletionsClient:
        """A client for the configured backend (the local model's URL once it runs)."""
        urls = settings.completions_base_urls
        if not urls:
            raise ValueError(
                "no completions backend: set COMPLETIONS_BASE_URL or start the local model"
            )
        return cls(
            urls,
            api_key=settings.completions_api_key,
            backend=settings.completions_backend,
            default_model=settings.completions_model,
            timeout=settings.completions_timeout,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def pool_key(self) -> str:
        """Names this backend (all its servers), e.g. for the queue to it."""
        return self.http.key

    @property
    def servers(self) -> int:
        """How many servers serve this backend."""
        return len(self.http.servers)

    async def __aenter__(self) -> CompletionsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- discovery -----------------------------------------------------------------

    async def list_models(self, *, refresh: bool = False) -> list[str]:
        """Model ids from `GET /v1/models`, cached after the first call."""
        async with self._lock:
            if self._models is None or refresh:
                body = await self.http.request_json("GET", "models")
                listed = read(ModelList, body, _("a model list"))
                self._models_body = body  # profile detection reads owned_by
                self._models_listed_at = time.monotonic()
                self._models = [entry.id for entry in listed.data]
            return list(self._models)

    async def profile(self) -> BackendProfile:
        """The configured profile, or the one detected from the server."""
        async with self._detect_lock:
            if self._profile is None:
                kind = await self._detect()
                if kind is None:
                    log.warning(
                        "could not tell which server %s is; using the cautious generic "
                        "profile (set COMPLETIONS_BACKEND to choose)",
                        self.pool_key,
                    )
                    kind = "generic"
                self._profile = PROFILES[kind]
                self.http.backend_label = self._profile.name
                log.info("completions backend at %s: %s", self.pool_key, self._profile.name)
        return self._profile

    async def _detect(self) -> str | None:
        """/v1/models owned_by first; then TGI's /info and Ollama's /api/version."""
        if "api.openai.com" in self.base_url:
            return "openai"
        await self.list_models()
        kind = detect_from_models(self.base_url, self._models_body)
        if kind is not None:
            return kind
        info = await self._probe("info")
        if isinstance(info, dict) and "model_id" in info and "max_total_tokens" in str(info):
            return "tgi"
        version = await self._probe("api/version")
        if isinstance(version, dict) and set(version) == {"version"}:
            return "ollama"
        return None

    async def _probe(self, path: str) -> Any:
        """GET a server-root path once, without retries; None when it is not there."""
        http = self.http.pick().http
        try:
            response = await http.client.get(f"{http.root_url}/{path}")
            return response.json() if response.is_success else None
        except (httpx.HTTPError, ValueError):
            return None

    async def _model(self, req: CompletionRequest, profile: BackendProfile) -> str | None:
        if req.model:
            await self._check_model(req.model)
            return req.model
        if self.default_model:
            return self.default_model
        if profile.name == "openai":
            raise ParameterError(
                "model",
                None,
                _("a model name"),
                _("model is missing: OpenAI needs a model, such as gpt-3.5-turbo-instruct."),
            )
        models = await self.list_models()
        return models[0] if models else None

    async def _served_models(self, *, refresh: bool = False) -> list[str]:
        """The backend's model list (cached), or [] when it cannot be had.

        A failed listing is not retried for MODELS_RETRY seconds, so a server
        without /v1/models costs one request per interval, not one per completion.
        """
        now = time.monotonic()
        if self._models is not None and not refresh:
            return list(self._models)
        if self._models is None and now - self._models_failed_at < MODELS_RETRY:
            return []
        try:
            models = await self.list_models(refresh=refresh)
        except BackendError as err:
            self._models_failed_at = now
            log.info("cannot list models at %s (%s): model names go unchecked", self.base_url, err)
            return []
        return models

    async def _check_model(self, model: str) -> None:
        """Refuse a model the backend does not list: some servers answer with any model.

        A miss refreshes an old list once (a model may have been loaded since);
        Ollama's `name` also matches its `name:latest`.
        """
        models = await self._served_models()
        if not models or _served(model, models):
            return
        if time.monotonic() - self._models_listed_at >= MODELS_REFRESH:
            models = await self._served_models(refresh=True)
            if not models or _served(model, models):
                return
        shown: Localized = join(models[:MODELS_SHOWN])
        if len(models) > MODELS_SHOWN:
            shown = _(
                "{names} and {count} more",
                names=join(models[:MODELS_SHOWN]),
                count=len(models) - MODELS_SHOWN,
            )
        raise ParameterError(
            "model",
            model,
            _("one of {names}", names=shown),
            _(
                "model {model} is not served by this backend: use one of {names} (see /models).",
                model=repr(model[:80]),
                names=shown,
            ),
        )

    async def _prepare(
        self, req: CompletionRequest, affinity: str | None = None
    ) -> tuple[BackendProfile, str | None, dict[str, Any], list[str | Msg]]:
        """Check the request against the profile and build the base body."""
        profile = await self.profile()
        profile.check(req)
        model = await self._model(req, profile)
        body = profile.payload(req, model)
        warnings: list[str | Msg] = []
        bias = dict(req.logit_bias or {})
        if req.logit_bias_words:
            word_ids, warnings = await resolve_words(
                req.logit_bias_words, Tokenizer(self.http, profile, model, affinity=affinity)
            )
            bias = {**word_ids, **bias}  # explicit ids win over word-derived ones
        if bias:
            body["logit_bias"] = bias
        note = profile.sampling_note(req.sampling)
        if note:
            warnings.append(note)
        return profile, model, body, warnings

    # -- completion ------------------------------------------------------------------

    async def complete(
        self, req: CompletionRequest, *, affinity: str | None = None
    ) -> CompletionResult:
        """Run `req` (never streamed) and return a normalised result."""
        started = time.perf_counter()
        profile, model, body, warnings = await self._prepare(req, affinity)
        emulated: list[str] = []

        echo_emulated = req.echo and (
            profile.supports("echo") is not Support.NATIVE or req.wants_best_of
        )
        best_of_emulated = _best_of_emulated(req, profile)
        count = _candidates(req, profile)
        if best_of_emulated:
            emulated.append("best_of")
            # Candidates are ranked on the generated tokens alone.
            body["logprobs"] = max(req.logprobs or 0, 1)
        elif req.wants_best_of:
            body["best_of"] = req.best_of
        if echo_emulated:
            # Never both: a server echoing as well would show the prompt twice.
            body.pop("echo", None)
            emulated.append("echo")
        # The prompt sits before the completion in the API's text_offset space.
        start_offset = len(req.prompt)

        raw_choices, usage, meta = await self._generate(
            profile, body, count, req.seed, emulated, affinity
        )
        if (
            count == 1
            and raw_choices[0].finish_reason == "length"
            and 0 < usage.completion_tokens < body["max_tokens"]
        ):
            # llama-cpp-python silently shortens max_tokens to what fits the context.
            warnings.append(
                _(
                    "The backend stopped after {count} tokens, fewer than max_tokens "
                    "{max_tokens}: the prompt and max_tokens do not fit its context size.",
                    count=usage.completion_tokens,
                    max_tokens=body["max_tokens"],
                )
            )

        choices = [
            c.to_choice(start_offset=0 if (req.echo and not echo_emulated) else start_offset)
            for c in raw_choices
        ]
        search_from = len(req.prompt) if req.echo and not echo_emulated else 0
        choices = [enforce_stops(c, req.stop, search_from) for c in choices]
        if req.logprobs is not None:
            for c in choices:
                if c.logprobs is None:
                    raise BackendError(
                        _(
                            "The {backend} backend returned no logprobs although logprobs "
                            "was asked for.",
                            backend=profile.name,
                        )
                    )
        candidates: list[Choice] = []
        if best_of_emulated:
            choices, candidates = rank_best_of(choices, req.n)
            if req.logprobs is None:
                choices = [c.model_copy(update={"logprobs": None}) for c in choices]
        if echo_emulated:
            choices = [prepend_echo(c, req.prompt) for c in choices]
        choices = [c.model_copy(update={"index": i}) for i, c in enumerate(choices)]
        return CompletionResult(
            id=meta.id or f"cmpl-{uuid.uuid4().hex}",
            created=meta.created or int(time.time()),
            model=meta.model or model or "",
            choices=choices,
            usage=usage,
            emulated=emulated,
            warnings=warnings,
            candidates=candidates,
            elapsed=time.perf_counter() - started,
            backend=profile.name,
        )

    async def _generate(
        self,
        profile: BackendProfile,
        body: dict[str, Any],
        count: int,
        seed: int | None,
        emulated: list[str],
        affinity: str | None = None,
    ) -> tuple[list[WireChoice], Usage, CompletionResponse]:
        """`count` choices as sent: one request with native n, or `count` concurrent ones."""
        if _one_request(profile, count):
            if count > 1:
                body = {**body, "n": count}
            response = await self._post(body, affinity)
            return self._choices(response, expect=count), response.to_usage(), response
        if "n" not in emulated:
            emulated.append("n")

        async def one(i: int) -> CompletionResponse:
            single = dict(body)
            if seed is not None:
                # Identical seeds would give identical samples; wrap within the
                # seed range (llama.cpp reads 2^32 - 1 as "random").
                single["seed"] = (seed + i) % (MAX_SEED + 1)
            async with self._semaphore:
                return await self._post(single, affinity)

        responses = await asyncio.gather(*(one(i) for i in range(count)))
        choices: list[WireChoice] = []
        usage = Usage()
        for response in responses:
            choices.extend(self._choices(response, expect=1))
            usage = usage + response.to_usage()
        return choices, usage, responses[0]

    async def _post(self, body: dict[str, Any], affinity: str | None = None) -> CompletionResponse:
        data = await self.http.request_json("POST", "completions", body, affinity=affinity)
        return read(CompletionResponse, data, _("a completion"))

    @staticmethod
    def _choices(response: CompletionResponse, *, expect: int) -> list[WireChoice]:
        choices = response.choices
        if not choices:
            raise MalformedResponse(_("The backend's answer has no choices."))
        if len(choices) < expect:
            raise BackendError(
                _(
                    "The backend returned {count} choices instead of {expected}; set "
                    "COMPLETIONS_BACKEND so Couplet can emulate n.",
                    count=len(choices),
                    expected=expect,
                )
            )
        return sorted(choices, key=lambda c: c.index)

    # -- usage -----------------------------------------------------------------------

    async def request_count(self, req: CompletionRequest) -> int:
        """How many HTTP requests `complete(req)` sends (several when n or best_of is
        emulated); streaming always sends one."""
        if req.stream:
            return 1
        profile = await self.profile()
        count = _candidates(req, profile)
        return 1 if _one_request(profile, count) else count

    async def count_usage(
        self, req: CompletionRequest, text: str, *, affinity: str | None = None
    ) -> Usage | None:
        """Count a completion's tokens with the backend's tokenizer, for backends that
        report no usage (llama-cpp-python while streaming); None without a tokenizer.

        The prompt is counted as the server sees it (its start token included),
        the generated text without the tokens the server adds.
        """
        profile = await self.profile()
        if profile.tokenizer is None:
            return None
        tokenizer = Tokenizer(
            self.http, profile, req.model or self.default_model, affinity=affinity
        )
        prompt = await tokenizer.count(req.prompt)
        completion = len(await tokenizer.tokenize(text)) if text else 0
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
        )

    # -- streaming -------------------------------------------------------------------

    def stream(self, req: CompletionRequest, *, affinity: str | None = None) -> CompletionStream:
        """Stream one completion: `async for delta in client.stream(req)`.

        The returned object also carries `.finish_reason`, `.usage` and `.text`
        once iteration ends. One completion only: n > 1, logprobs and best_of
        need `complete()` (raised as ParameterError when iteration starts).
        echo is always emulated here (the prompt comes first).
        """
        return _LazyStream(self, req, affinity)

    async def _open_stream(
        self, req: CompletionRequest, affinity: str | None = None
    ) -> CompletionStream:
        if req.n > 1:
            raise ParameterError(
                "n",
                req.n,
                _("1 when streaming"),
                _(
                    "n {n} cannot be streamed: streaming shows one completion; turn stream "
                    "off for several.",
                    n=req.n,
                ),
            )
        if req.logprobs is not None:
            raise ParameterError(
                "logprobs",
                req.logprobs,
                _("no logprobs when streaming"),
                _("logprobs cannot be shown while streaming: turn stream off to see them."),
            )
        if req.wants_best_of:
            raise best_of_with_stream(req.best_of)
        profile, model, body, warnings = await self._prepare(req, affinity)
        body.pop("echo", None)
        if profile.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return CompletionStream(
            stream_chunks(self.http, "completions", body, affinity=affinity),
            stops=req.stop,
            lead=req.prompt if req.echo else "",
            warnings=warnings,
            model=model,
        )


class _LazyStream(CompletionStream):
    """A CompletionStream that checks and opens the request on first iteration."""

    def __init__(
        self, client: CompletionsClient, req: CompletionRequest, affinity: str | None
    ) -> None:
        super().__init__(None)
        self._client = client
        self._req = req
        self._affinity = affinity
        self._inner: CompletionStream | None = None

    async def __anext__(self) -> str:
        if self._inner is None:
            self._inner = await self._client._open_stream(self._req, self._affinity)
        try:
            out = await self._inner.__anext__()
        finally:
            self.text = self._inner.text
            self.finish_reason = self._inner.finish_reason
            self.usage = self._inner.usage
            self.warnings = self._inner.warnings
            self.model = self._inner.model
        return out

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
