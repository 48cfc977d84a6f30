"""logit_bias input: token ids or words, and turning words into ids through
the backend's own tokenize endpoint."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from bot.completions.pool import ServerPool
from bot.completions.profiles import BackendProfile
from bot.completions.request import validate_bias_map
from bot.completions.wire import TokenizeResponse, read
from bot.errors import ParameterError
from bot.i18n import Msg, _

log = logging.getLogger(__name__)

_ALLOWED = _(
    'a JSON object of token ids such as {"50256": -100}, or word=bias pairs such as hello=-100'
)


# "hello=5 world" (the word part of "hello=5 world=3"): a pair missing its comma.
_MISSING_COMMA = re.compile(r"=\s*[+-]?\d+\s+\S")


def parse_logit_bias(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """Parse a JSON object or `word=bias, word2=bias` pairs into (token ids, words).

    Numeric keys are token ids; anything else is a word for the backend to tokenize.
    """
    raw = text.strip()
    if not raw:
        raise ParameterError(
            "logit_bias", text, _ALLOWED, _("logit_bias is empty: use {allowed}.", allowed=_ALLOWED)
        )
    pairs: list[tuple[str, object]] = []
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except ValueError:
            raise ParameterError(
                "logit_bias",
                text,
                _ALLOWED,
                _(
                    "logit_bias {value} is not valid JSON: use {allowed}.",
                    value=repr(raw[:40]),
                    allowed=_ALLOWED,
                ),
            ) from None
        if not isinstance(value, dict):
            raise ParameterError(
                "logit_bias",
                text,
                _ALLOWED,
                _("logit_bias must be an object: use {allowed}.", allowed=_ALLOWED),
            )
        pairs = list(value.items())
    else:
        for part in raw.split(","):
            if not part.strip():
                continue
            word, sep, bias = part.rpartition("=")
            if not sep or not word.strip():
                raise ParameterError(
                    "logit_bias",
                    part.strip(),
                    _ALLOWED,
                    _(
                        "logit_bias part {part} is not word=bias: use {allowed}.",
                        part=repr(part.strip()[:40]),
                        allowed=_ALLOWED,
                    ),
                )
            if _MISSING_COMMA.search(word):
                raise ParameterError(
                    "logit_bias",
                    part.strip(),
                    _ALLOWED,
                    _(
                        "logit_bias part {part} holds several pairs: separate "
                        "word=bias pairs with commas, such as hello=-100, world=5.",
                        part=repr(part.strip()[:40]),
                    ),
                )
            if any(word.strip() == seen for seen, _bias in pairs):
                raise ParameterError(
                    "logit_bias",
                    word.strip(),
                    _("each word once"),
                    _(
                        "logit_bias gives {word} twice: give each word one bias.",
                        word=repr(word.strip()[:40]),
                    ),
                )
            pairs.append((word.strip(), bias.strip()))
    # isdecimal, not isdigit: "²" is a digit that int() cannot read.
    ids = {str(k).strip(): v for k, v in pairs if str(k).strip().isdecimal()}
    words = {str(k): v for k, v in pairs if not str(k).strip().isdecimal()}
    return validate_bias_map("logit_bias", ids, ids=True) or {}, validate_bias_map(
        "logit_bias", words, ids=False
    ) or {}


class Tokenizer:
    """The backend's tokenize endpoint, returning ids without special tokens."""

    def __init__(
        self,
        http: ServerPool,
        profile: BackendProfile,
        model: str | None,
        *,
        affinity: str | None = None,
    ) -> None:
        self.http = http
        self.affinity = affinity
        self.kind = profile.tokenizer
        self.model = model
        self._specials: set[int] | None = None

    async def _raw(self, text: str) -> list[int]:
        # Paths from the server root (outside /v1).
        body: dict[str, Any]
        if self.kind == "llama-cpp-python":
            path, body = "/extras/tokenize", {"input": text}
            if self.model:
                body["model"] = self.model
        elif self.kind == "vllm":
            path, body = "/tokenize", {"prompt": text, "add_special_tokens": False}
            if self.model:
                body["model"] = self.model
        elif self.kind == "llamacpp":
            path, body = "/tokenize", {"content": text, "add_special": False}
        else:
            raise RuntimeError(f"no tokenizer for {self.kind}")
        data = await self.http.request_json("POST", path, body, affinity=self.affinity)
        return read(TokenizeResponse, data, _("a token list")).ids()

    async def count(self, text: str) -> int:
        """How many tokens the server makes of `text`, the ones it adds included."""
        return len(await self._raw(text))

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, without BOS or other tokens the server adds."""
        if self._specials is None:
            # llama-cpp-python always adds BOS (id 2 for Gemma); learn what an
            # empty string turns into and drop those ids from every result.
            self._specials = set(await self._raw("")) if self.kind == "llama-cpp-python" else set()
        ids = await self._raw(text)
        while ids and ids[0] in self._specials:
            ids.pop(0)
        return ids


async def resolve_words(
    words: dict[str, int], tokenizer: Tokenizer
) -> tuple[dict[str, int], list[str | Msg]]:
    """Token-id biases for each word, bare and with a leading space; plus warnings."""
    biases: dict[str, int] = {}
    warnings: list[str | Msg] = []
    for word, bias in words.items():
        stripped = word.strip()
        variants = dict.fromkeys([stripped, " " + stripped])
        pieces_seen = 0
        for variant in variants:
            ids = await tokenizer.tokenize(variant)
            if not ids:
                continue
            pieces_seen = max(pieces_seen, len(ids))
            for token_id in ids:
                biases[str(token_id)] = bias
        if pieces_seen == 0:
            raise ParameterError(
                "logit_bias",
                word,
                _("a word the model can tokenize"),
                _("logit_bias word {word} has no tokens on this model.", word=repr(word)),
            )
        if pieces_seen > 1:
            warnings.append(
                _(
                    "logit_bias word {word} is {count} tokens on this model, so the bias "
                    "applies to each piece and may affect other words too.",
                    word=repr(stripped),
                    count=pieces_seen,
                )
            )
        log.debug("logit_bias word %r -> %s", word, biases)
    return biases, warnings
