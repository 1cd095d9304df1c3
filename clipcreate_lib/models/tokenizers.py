"""Tokenizers built in code from fixed vocabularies, so tiny models need no download and are the same
in every process: CLIP's byte-level BPE and BLIP's WordPiece over the words the embedded data uses."""

from __future__ import annotations

from transformers import BertTokenizer, CLIPTokenizer

# Words the tiny tokenizer knows whole; anything else falls back to single characters.
TINY_WORDS = (
    "a an the of in on with and by style styled image picture photo print pattern art painting "
    "drawing artist man woman nature animal city building child red orange yellow green blue "
    "purple pink brown black white grey gray dark light bright pale stripes dots circles waves "
    "grid checks blots strokes lines gradient squares rings abstract expressionism action "
    "analytical cubism nouveau baroque color field contemporary realism early renaissance fauvism "
    "high impressionism mannerism late minimalism naive primitivism new northern pointillism pop "
    "post rococo romanticism symbolism synthetic ukiyo e"
).split()


def _bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable-character table of byte-level BPE (as in GPT-2 and CLIP)."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


def _apply_merges(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: repeatedly join the adjacent pair with the lowest merge rank."""
    while len(pieces) > 1:
        rank, i = min((ranks.get(pair, len(ranks)), i) for i, pair in enumerate(zip(pieces, pieces[1:])))
        if rank == len(ranks):
            break
        pieces = pieces[:i] + [pieces[i] + pieces[i + 1]] + pieces[i + 2 :]
    return pieces


def build_tiny_tokenizer() -> CLIPTokenizer:
    """A CLIP BPE tokenizer over a fixed vocabulary: every byte, plus merges that spell ``TINY_WORDS``.

    Built in code from constants, so it is identical in every process and needs no download.
    """
    symbols = sorted(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in symbols + [s + "</w>" for s in symbols]:
        vocab.setdefault(token, len(vocab))
    merges: dict[tuple[str, str], int] = {}
    for word in TINY_WORDS:
        pieces = _apply_merges(list(word[:-1]) + [word[-1] + "</w>"], merges)
        while len(pieces) > 1:  # finish the word with new, lowest-priority merges
            merges[(pieces[0], pieces[1])] = len(merges)
            vocab.setdefault(pieces[0] + pieces[1], len(vocab))
            pieces = _apply_merges(pieces, merges)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab.setdefault(special, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=list(merges), model_max_length=77)


def token_ids(tokenizer: CLIPTokenizer) -> dict[str, int]:
    """The special token ids a CLIP text config needs (the eos id picks the pooled token)."""
    return dict(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )


def tiny_bert_tokenizer() -> BertTokenizer:
    """A WordPiece tokenizer over lowercase letters and ``TINY_WORDS``, as BLIP's captioner expects."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,")
    vocab = special + sorted(set(TINY_WORDS)) + [c for c in letters if c not in TINY_WORDS]
    vocab += ["##" + c for c in letters]
    tokenizer = BertTokenizer(vocab=dict(zip(vocab, range(len(vocab)))), do_lower_case=True)
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    return tokenizer
