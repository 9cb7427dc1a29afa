"""The printable Japanese report (``report.pdf``) of an evidence bundle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from kuchikomi.japanese import ja_date
from kuchikomi.services import japanese_pdf as jp
from kuchikomi.services.evidence.base import (
    MANIFEST_NAME,
    REPORT_NAME,
    SIGNATURE_NAME,
    WARC_NAME,
    jst,
)
from kuchikomi.services.evidence.warc import Capture
from models import Review

NEIGHBOUR_TEXT_CHARS = 300


@dataclass(frozen=True)
class ReportInput:
    review: Review
    metadata: dict[str, Any]
    captures: list[Capture]
    sightings: int
    neighbours: list[Review]
    hashes: dict[str, str]
    created_at: datetime
    key_fingerprint: str
    # {"status": "ok"|"unavailable", "reason": …, "files": [{capture, pdf, png}]}
    rendering: dict[str, Any]


def _post_date(review: Review) -> str:
    parts = []
    if review.posted_at_raw:
        parts.append(f"サイト上の表示：{review.posted_at_raw}")
    if review.posted_at:
        day = ja_date(review.posted_at)
        parts.append(day if review.posted_at_exact else f"{day}（相対表示からの推定）")
    return "\n".join(parts) or "（サイトに表示なし）"


def report_pdf(data: ReportInput) -> bytes:
    review, metadata = data.review, data.metadata
    p = jp.text_paragraph
    story: list[Any] = [p("口コミ投稿の証拠保全報告書", "title")]
    story.append(
        jp.field_table(
            [
                ("作成日時", jst(data.created_at)),
                ("医療機関", metadata["clinic_name"]),
                ("掲載ページ", metadata["listing_url"]),
                ("投稿のURL", metadata["url"] or "（個別URLなし：掲載ページを参照）"),
                ("投稿者（表示名）", metadata["author"] or "（表示なし）"),
                ("投稿日", _post_date(review)),
                ("評価", "（なし）" if review.rating is None else f"{review.rating:g}"),
                ("サイト上の投稿ID", metadata["external_id"]),
                ("初回検出日時", jst(review.first_seen_at)),
                ("最終確認日時", jst(review.last_seen_at)),
                (
                    "削除の確認",
                    jst(review.removed_at) + "（再取得時に掲載なし）"
                    if review.removed_at
                    else "未確認",
                ),
            ]
        )
    )
    story.append(p("投稿の全文（省略なし）", "heading"))
    story.append(
        p(
            "フォントにない文字（絵文字など）は〔U+コード〕で表記しています"
            "（原文は manifest.json）。",
            "small",
        )
    )
    story.append(
        jp.field_table([("本文", metadata["text"]), ("本文のSHA-256", metadata["text_sha256"])])
    )

    story.append(p("ページの取得記録", "heading"))
    if data.captures:
        story.append(
            p(
                f"この投稿は{data.sightings}回の取得で確認されました。最初の取得と最新の取得のページを"
                f"WARC形式（ISO 28500）で {WARC_NAME} に収録しています（ページ全体、加工なし）。",
                "small",
            )
        )
        for n, c in enumerate(data.captures, 1):
            story.append(Spacer(1, 2))
            story.append(
                jp.field_table(
                    [
                        (f"取得 {n}：URL", c.url),
                        ("取得日時", jst(c.fetched_at)),
                        ("HTTPステータス", str(c.status_code)),
                        ("WARC-Record-ID", c.warc_record_id),
                        ("ページ本体のSHA-256", c.payload_sha256),
                    ]
                )
            )
        story.extend(_rendering_section(data.rendering))
    else:
        story.append(
            p(
                "この投稿が掲載されたページの保存記録はありません（取込データ等）。"
                "提出前に掲載ページを保存してください。",
                "body",
            )
        )

    story.append(p("周辺の投稿（掲載順）", "heading"))
    story.append(_neighbour_table(review, data.neighbours))

    story.append(p("ファイルのハッシュ値（SHA-256）", "heading"))
    rows: list[tuple[str, str | None]] = list(data.hashes.items())
    rows.append((REPORT_NAME, f"本報告書のハッシュ値は {MANIFEST_NAME} に記載"))
    story.append(jp.field_table(rows))

    story.append(p("電子署名", "heading"))
    story.append(
        jp.field_table(
            [
                (
                    "署名方式",
                    f"Ed25519（{MANIFEST_NAME} 全体に対する署名を {SIGNATURE_NAME} に収録）",
                ),
                ("公開鍵の指紋", data.key_fingerprint),
            ]
        )
    )
    story.append(Spacer(1, 6))
    story.append(
        p(
            "検証方法：kuchikomi evidence verify <このzipファイル> --public-key <公開鍵ファイル> "
            f"を実行すると、{MANIFEST_NAME} の署名と、記載された全ファイル・取得ページ・本文の"
            "ハッシュ値を確かめ、一致しないものを表示します。公開鍵は作成元の"
            "kuchikomi evidence public-key で入手し、指紋が上記と同じであることを確認してください。"
            f"署名は openssl pkeyutl -verify -pubin -inkey <公開鍵> -rawin -in {MANIFEST_NAME} "
            f"-sigfile {SIGNATURE_NAME} でも、各ファイルのハッシュ値は sha256sum でも"
            "確認できます。",
            "small",
        )
    )
    return jp.render(
        story,
        title=f"証拠保全報告書 review {review.id}",
        footer=f"kuchikomi-guard 証拠保全報告書 / review {review.id} / "
        f"{data.created_at:%Y-%m-%dT%H:%M:%SZ}",
    )


def _rendering_section(rendering: dict[str, Any]) -> list[Any]:
    p = jp.text_paragraph
    story: list[Any] = [p("閲覧時の表示（保存ページの再現）", "heading")]
    if rendering["status"] != "ok":
        story.append(
            p(
                f"保存したページの表示（PDF・PNG）は作成していません。理由：{rendering['reason']}",
                "body",
            )
        )
        return story
    story.append(
        p(
            "WARC に保存したページを、ネットワークを遮断したブラウザ（Chromium）で表示し、"
            "ページ全体を PDF と PNG に保存しました。再取得は一切していません。各ページの上端に"
            "URL・取得日時（日本時間）・WARC 記録のページ本体の SHA-256 を記載しています。",
            "small",
        )
    )
    story.append(
        jp.field_table(
            [(f"取得 {n}", f"{f['pdf']} / {f['png']}") for n, f in enumerate(rendering["files"], 1)]
        )
    )
    return story


def _neighbour_table(review: Review, neighbours: list[Review]) -> Table | Paragraph:
    if len(neighbours) <= 1:
        return jp.text_paragraph("（同じページで確認された他の投稿はありません）")
    head = [jp.text_paragraph(h, "label") for h in ("投稿日", "投稿者", "本文")]
    data: list[list[Any]] = [head]
    highlight = 0
    for i, other in enumerate(neighbours, 1):
        text = other.text
        if len(text) > NEIGHBOUR_TEXT_CHARS:
            # The post itself is printed in full above; here each stays a row that fits a page.
            text = (
                text[:NEIGHBOUR_TEXT_CHARS]
                + "…（以下略、全文は"
                + ("上記" if other.id == review.id else "WARC")
                + "に収録）"
            )
        if other.id == review.id:
            highlight = i
            text = "【本件投稿】\n" + text
        data.append(
            [
                jp.text_paragraph(other.posted_at_raw or _short_date(other.posted_at), "small"),
                jp.text_paragraph(other.author or "（表示なし）", "small"),
                jp.text_paragraph(text, "small"),
            ]
        )
    table = Table(data, colWidths=[30 * mm, 30 * mm, 110 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), jp.FONT),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
                ("BACKGROUND", (0, highlight), (-1, highlight), colors.Color(1, 0.95, 0.8)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _short_date(value: datetime | None) -> str:
    return ja_date(value) if value else "（不明）"
