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

# Crawl health of a listing (kuchikomi.services.health); None = not crawled yet.
HEALTH_STATUS_JA: dict[str | None, str] = {
    "ok": "正常",
    "layout_changed": "構成変更の疑い",
    "blocked": "アクセス拒否",
    "gone": "掲載終了",
    "failing": "取得失敗",
    "needs_reconnect": "再接続が必要",
    None: "未巡回",
}
