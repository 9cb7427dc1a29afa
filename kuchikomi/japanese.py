"""Japanese for people: the time zone staff read times in, date and time formats, and the
Japanese names of every code a page, a CSV file or a message shows (categories, labels,
decisions, burst kinds, crawl health, review sites, audit actions).

One place, so that the web UI, the web CSV and notification messages word things alike.
Storage, the JSON API and the CLI's machine formats keep the codes and UTC; only what a person
reads goes through here. (Takedown drafts use their own legal wording of the categories:
kuchikomi/services/takedown/wording.py.)
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

# Staff read times as the Japanese portals print them; storage stays UTC. Japan time is defined
# once, in the crawler's date parsing (the lowest layer that needs it; crawler/ may not import
# kuchikomi/), and every other module takes it from here.
from crawler.dates import JST as JST

CATEGORY_JA = {
    "defamation": "名誉毀損",
    "insult": "侮辱",
    "threat": "脅迫",
    "privacy": "プライバシー侵害",
    "discrimination": "差別",
}

# The classifier's label of a review.
LABEL_JA = {
    "harmful": "有害の疑い",
    "criticism": "正当な批判",
    "benign": "問題なし",
}

# A staff member's decision about a review.
DECISION_JA = {"harmful": "有害", "criticism": "正当な批判", "unsure": "保留（判断つかず）"}

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

ROLE_JA = {"admin": "管理者", "reviewer": "確認担当者", "clinic": "医療機関"}


# ---------------------------------------------------------------------------------------------
# Dates and times


def ja_date(value: datetime | date | None) -> str:
    """``2025年3月4日`` (the Japan-time day of a moment); 「不明」 for None."""
    if value is None:
        return "不明"
    day = value.astimezone(JST).date() if isinstance(value, datetime) else value
    return f"{day.year}年{day.month}月{day.day}日"


def ja_day_range(first: date, last: date) -> str:
    """``2025年5月1日〜5月2日``; the year again only when it changes; one day alone once."""
    if last == first:
        return ja_date(first)
    end = f"{last.month}月{last.day}日" if last.year == first.year else ja_date(last)
    return f"{ja_date(first)}〜{end}"


def ja_datetime(value: datetime | None) -> str:
    """``2025年3月4日 09:15`` in Japan time, for pages; 「不明」 for None."""
    if value is None:
        return "不明"
    local = value.astimezone(JST)
    return f"{ja_date(local)} {local:%H:%M}"


def jst_minute(value: datetime | None) -> str:
    """``2025-03-04 09:15`` in Japan time: for files people open (CSV, documents), where a
    spreadsheet recognises it as a date and time; "" for None."""
    if value is None:
        return ""
    return f"{value.astimezone(JST):%Y-%m-%d %H:%M}"


# ---------------------------------------------------------------------------------------------
# Review sites

# Sources that are not site profiles.
_SOURCE_JA = {"google_business_profile": "Google マップ"}  # crawler.google.SOURCE

_profile_labels: tuple[tuple[tuple[str, int], ...], dict[str, str]] | None = None


def _labels_from_profiles() -> dict[str, str]:
    """Each profile's ``label`` (or ``title``) by name; read again only when a file of the
    operator's profile directory changes (a stat per file, not a parse)."""
    global _profile_labels
    from crawler.sites import load_profiles_lenient, local_dir

    directory = local_dir()
    stamp = tuple(
        sorted((p.name, p.stat().st_mtime_ns) for p in directory.glob("*.toml") if p.is_file())
    )
    if _profile_labels is None or _profile_labels[0] != stamp:
        profiles, _errors = load_profiles_lenient(directory)
        labels = {name: p.label or p.title or name for name, p in profiles.items()}
        _profile_labels = (stamp, labels)
    return _profile_labels[1]


def site_label(source: str | None) -> str:
    """The review site's name for people: 「構造化データ」, 「QLife」, 「Google マップ」…"""
    if not source:
        return "—"
    if source in _SOURCE_JA:
        return _SOURCE_JA[source]
    return _labels_from_profiles().get(source, source)


# ---------------------------------------------------------------------------------------------
# Audit log (the API keeps the English action names; the /audit page shows these)

AUDIT_ACTION_JA = {
    "decision.create": "判断を記録",
    "decision.bulk": "まとめて判断を記録",
    "case.create": "削除依頼の下書きを作成",
    "case.draft": "削除依頼の下書きを編集",
    "case.sent": "削除依頼を送付済みに",
    "case.removed": "削除されたと記録",
    "case.refused": "削除を拒否されたと記録",
    "case.no_answer": "回答なしと記録",
    "case.removal_confirmed": "巡回で削除を確認",
    "case.reappeared": "削除された口コミが再掲載",
    "user.create": "アカウントを作成",
    "user.set_password": "パスワードを変更",
    "token.create": "APIトークンを発行",
    "token.revoke": "APIトークンを失効",
    "clinic.create": "医療機関を登録",
    "listing.health": "巡回の状態が変化",
}

AUDIT_OBJECT_JA = {
    "review": "口コミ",
    "clinic": "医療機関",
    "listing": "掲載ページ",
    "takedown_case": "削除依頼",
    "user": "アカウント",
    "api_token": "APIトークン",
}

# Actors that are not a person's e-mail address.
_ACTOR_JA = {"crawler": "巡回（自動）", "system:crawl": "巡回（自動）"}

# Keys of the before/after snapshots, in Japanese; keys not named here are not shown (ids
# repeated from the row, draft texts that the takedown page shows in full).
_AUDIT_KEY_JA = {
    "decision": "判断",
    "category": "分類",
    "note": "メモ",
    "status": "状態",
    "sent_via": "送付先",
    "sent_on": "送付日",
    "resolved_on": "回答日",
    "removal_confirmed_at": "削除の確認",
    "detail": "詳細",
    "url": "URL",
    "urls": "URL",
    "name": "名称",
    "email": "メールアドレス",
    "user": "アカウント",
    "role": "役割",
    "prefix": "トークン",
    "revoked_at": "失効日時",
    "draft": "下書きの編集箇所",
}

_CASE_STATUS_JA = {
    "draft": "下書き",
    "sent": "送付済み（回答待ち）",
    "removed": "削除された",
    "refused": "削除を拒否された",
    "no_answer": "回答なし",
}

ROUTE_JA = {
    "platform_form": "掲載サイトの削除依頼フォーム",
    "letter": "送信防止措置依頼書の送付",
    "ihaho": "違法・有害情報相談センター",
    "moj": "法務局の人権相談",
    "police": "警察",
    "lawyer": "弁護士",
}


def audit_actor_ja(actor: str) -> str:
    if actor in _ACTOR_JA:
        return _ACTOR_JA[actor]
    if actor.startswith("cli:") or actor == "cli":
        return f"コマンド（{actor.removeprefix('cli:') or 'cli'}）"
    return actor


def _audit_value_ja(key: str, value: Any, object_type: str) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if key == "decision":
        return DECISION_JA.get(value, str(value))
    if key == "category":
        return CATEGORY_JA.get(value, str(value))
    if key == "status":
        table = HEALTH_STATUS_JA if object_type == "listing" else _CASE_STATUS_JA
        return table.get(value, str(value))
    if key == "sent_via":
        return ROUTE_JA.get(value, str(value))
    if key == "role":
        return ROLE_JA.get(value, str(value))
    if key == "draft" and isinstance(value, dict):
        return f"{len(value)}項目"
    if isinstance(value, str) and key.endswith("_at"):
        try:
            return ja_datetime(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    return str(value)


def audit_changes_ja(
    before: dict[str, Any] | None, after: dict[str, Any] | None, object_type: str
) -> list[tuple[str, str, str]]:
    """(item, before, after) in Japanese for every shown key whose value changed, or that was
    set when the object was created."""
    before, after = before or {}, after or {}
    rows = []
    for key, name in _AUDIT_KEY_JA.items():
        if key not in before and key not in after:
            continue
        old, new = before.get(key), after.get(key)
        if old == new and before:
            continue
        if not before and new in (None, "", [], {}):
            continue
        rows.append(
            (
                name,
                _audit_value_ja(key, old, object_type) if before else "—",
                _audit_value_ja(key, new, object_type),
            )
        )
    return rows
