"""Japanese names of categories and burst kinds, one wording for every place staff read them:
the web UI, the clinic timeline and notification messages. (Takedown drafts use their own legal
wording of the categories: kuchikomi/services/takedown.py.)"""

from __future__ import annotations

CATEGORY_JA = {
    "defamation": "名誉毀損",
    "insult": "侮辱",
    "threat": "脅迫",
    "privacy": "プライバシー侵害",
    "discrimination": "差別",
}

BURST_KIND_JA = {
    "volume": "投稿数の急増",
    "harmful": "有害の疑いがある投稿の急増",
    "rating_drop": "評価の急落",
    "duplicate": "よく似た文面の投稿",
    "author": "同じ投稿者による連続投稿",
}
