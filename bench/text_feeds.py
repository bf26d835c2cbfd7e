"""Token feeds for the sentence transformer (MiniLM) checks: real English sentences in
bert-base-uncased ids ([CLS] 101, [SEP] 102, [PAD] 0), padded to one length with the attention mask
0 on the padding, so the masked-softmax path runs. Usage: text_feeds.py OUTDIR → minilm-b1.npz
(one sentence) and minilm-b32.npz (32 sentences of 4 to 16 tokens)."""
import os, sys
import numpy as np

WORDS = {"the": 1996, "quick": 4248, "brown": 2829, "fox": 4419, "jumps": 14523, "over": 2058, "lazy": 13971, "dog": 3899,
         "a": 1037, "cat": 4937, "is": 2003, "on": 2006, "table": 2795, "i": 1045, "like": 2066, "and": 1998, "to": 2000,
         "of": 1997, "in": 1999, "it": 2009, "this": 2023, "that": 2008, "was": 2001, "he": 2002, "she": 2016, "we": 2057,
         "you": 2017, "they": 2027, "are": 2024, ".": 1012, ",": 1010}
SENTENCES = [
    "the quick brown fox jumps over the lazy dog", "a cat is on the table", "i like the dog", "she was in the table",
    "we like the quick fox .", "they are on it", "you like this dog and that cat", "he jumps over the cat , and the dog",
    "this is a lazy dog", "it was the fox", "the cat is lazy", "i like it .", "we are quick", "a brown dog and a brown cat",
    "the fox is in the table , and it jumps", "that was the dog of the fox",
]


def encode(sentence, length):
    ids = [101] + [WORDS[w] for w in sentence.split()] + [102]
    ids = ids[:length]
    mask = [1] * len(ids) + [0] * (length - len(ids))
    return ids + [0] * (length - len(ids)), mask


def feed(sentences, length):
    pairs = [encode(s, length) for s in sentences]
    ids = np.array([p[0] for p in pairs], dtype=np.int64)
    mask = np.array([p[1] for p in pairs], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
np.savez(os.path.join(out, "minilm-b1.npz"), **feed(SENTENCES[:1], 11))
np.savez(os.path.join(out, "minilm-b32.npz"), **feed([SENTENCES[i % len(SENTENCES)] for i in range(32)], 16))
