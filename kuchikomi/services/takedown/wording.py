"""The words of a takedown request: the legal wording of each category, the form's labels and
fixed sentences, and where a request can go (docs/domain.md).

What is written under 侵害されたとする権利 and 権利が侵害されたとする理由 is forwarded to the
poster, so the prefilled text states facts (what was posted, where, what kind of statement it
is) and leaves what only the clinic knows (why an allegation is untrue) as a bracketed blank to
fill in, never an invented claim.
"""

from __future__ import annotations

import re

from kuchikomi.services.takedown.schemas import RoutePublic

CATEGORY_JA = {
    "defamation": "名誉毀損",
    "insult": "侮辱・名誉感情の侵害",
    "threat": "脅迫・業務妨害",
    "privacy": "プライバシー侵害",
    "discrimination": "差別",
}

# 侵害されたとする権利 for each confirmed category (docs/domain.md).
RIGHTS_BY_CATEGORY: dict[str, list[str]] = {
    "defamation": ["名誉権"],
    "insult": ["名誉感情"],
    "threat": ["平穏な生活を営む権利", "業務を平穏に遂行する権利"],
    "privacy": ["プライバシー権"],
    "discrimination": ["名誉感情", "平穏な生活を営む権利"],
}

# What the statement is, in words that may be forwarded to the poster: a description of the
# post, not an accusation of the poster.
REASON_OPENING: dict[str, str] = {
    "defamation": (
        "本件投稿は、当院について{fact}との事実を摘示するものです。"
        "不特定多数の者が閲覧できる口コミ欄に掲載されており、これを読んだ者に事実であると"
        "受け取られ、当院の社会的評価が低下しています。"
    ),
    "insult": (
        "本件投稿は、具体的な事実を示すことなく、当院（又はその職員）を侮辱する表現を用いる"
        "ものです。その表現は社会通念上許される限度を超えており、名誉感情を侵害しています。"
    ),
    "threat": (
        "本件投稿は、当院（又はその職員・家族）の生命・身体等に危害を加える旨を示すものであり、"
        "職員及び患者が不安を抱き、平穏な生活及び業務の遂行が妨げられています。"
    ),
    "privacy": (
        "本件投稿は、一般に公開されていない私生活上の事柄（個人を特定できる情報を含む）を、"
        "本人の同意なく公開するものであり、プライバシーを侵害しています。"
    ),
    "discrimination": (
        "本件投稿は、属性（国籍、民族、出身、性別、障害等）を理由に当院又はその職員を"
        "貶める表現を含むものであり、名誉感情及び平穏な生活を営む権利を侵害しています。"
    ),
}
FACT_BLANK = "〔摘示されている事実〕"
DAMAGE_BLANK = (
    "〔事実と異なる点、及び被害の状況（受診控え・問い合わせ・職員への影響等）を記載してください〕"
)

# Classifier reasons that speak about the model, not the post: they are not forwarded.
INTERNAL_REASON = re.compile(r"^(強く寄与した語|長文のため)")

# Hosts of sites with their own deletion route, and a label for the addressee.
SITES: dict[str, str] = {
    "google.com": "Google",
    "google.co.jp": "Google",
    "goo.gl": "Google",
    "qlife.jp": "QLife",
    "caloo.jp": "Caloo",
    "byoinnavi.jp": "病院なび",
    "epark.jp": "EPARK",
}


FIELD_LABELS: dict[str, str] = {
    "provider": "宛先（サイト運営者）",
    "location": "掲載されている場所",
    "information": "掲載されている情報",
    "rights": "侵害されたとする権利",
    "reason": "権利が侵害されたとする理由（被害の状況など）",
    "requester_address": "住所",
    "requester_name": "氏名（法人の場合は名称・代表者名）",
    "requester_contact": "連絡先（電話番号・メールアドレス）",
    "disclose_name": "発信者へ氏名を開示して差し支えない",
}


TITLE = "侵害情報の通知書 兼 送信防止措置依頼書"
REQUEST_SENTENCE = (
    "貴社が管理する特定電気通信設備に掲載されている下記の情報の流通により、"
    "私の権利が侵害されたので、貴社に対し当該情報の送信を防止する措置を講じるよう依頼します。"
)
AGREEMENT = (
    "上記の枠内に記載された内容は、事実に相違なく、貴社から発信者にそのまま通知される"
    "ことになることに同意いたします。"
)
DISCLOSE_NOTE = (
    "発信者へ氏名を開示して差し支えない場合は「○」を記入してください。"
    "○印のない場合、氏名開示には同意していないものとします。"
)
DRAFT_NOTE = (
    "下書き（kuchikomi-guard が作成）：提出できるのは被害者本人又はその代理人弁護士です。"
    "内容を確認・修正し、依頼者が記名押印のうえ提出してください。"
)


CASE_STATUS_JA = {
    "draft": "下書き",
    "sent": "送付済み（回答待ち）",
    "removed": "削除された",
    "refused": "削除を拒否された",
    "no_answer": "回答なし",
}


def routes_for(site_key: str | None, site: str, category: str | None) -> list[RoutePublic]:
    """Where the request can go, the platform's own route first (docs/domain.md)."""
    routes: list[RoutePublic] = []
    if site_key == "Google":
        routes.append(
            RoutePublic(
                key="platform_form",
                name="Google の削除リクエスト（ビジネスプロフィールのクチコミ管理ツール）",
                description="オーナー確認済みのビジネスプロフィールから、ポリシー違反のクチコミを"
                "報告し、審査状況を確認できます。法的な理由による削除は Google の"
                "「法的な理由によるコンテンツの削除」フォームから依頼します。",
                url="https://support.google.com/business/",
            )
        )
    else:
        routes.append(
            RoutePublic(
                key="platform_form",
                name=f"{site} の削除依頼・問い合わせ窓口",
                description="掲載サイトの利用規約・ガイドラインに違反する投稿として、サイトの"
                "削除依頼フォーム（又は問い合わせ窓口）から依頼します。応じない場合は、"
                "この送信防止措置依頼書を運営者に送付します。",
            )
        )
    routes.append(
        RoutePublic(
            key="letter",
            name="送信防止措置依頼書の送付（サイト運営者宛）",
            description="この下書きに記名押印し、本人確認書類等を添えて運営者に送付します。"
            "運営者は発信者に意見を照会し、7日以内に反論がなければ削除できます。",
        )
    )
    routes.append(
        RoutePublic(
            key="ihaho",
            name="違法・有害情報相談センター（総務省）",
            description="削除依頼の方法や書き方について、専門の相談員に無料で相談できます。",
            url="https://ihaho.jp/",
        )
    )
    routes.append(
        RoutePublic(
            key="moj",
            name="法務局の人権相談（インターネット人権相談）",
            description="名誉毀損・プライバシー侵害等について相談でき、法務局から"
            "サイト運営者へ削除を要請してもらえる場合があります。",
            url="https://www.jinken.go.jp/",
        )
    )
    if category == "threat":
        routes.append(
            RoutePublic(
                key="police",
                name="警察への相談",
                description="脅迫・業務妨害のおそれがある場合は、最寄りの警察署又は警察相談"
                "専用電話（#9110）に相談してください。危険が差し迫っているときは110番。",
            )
        )
    routes.append(
        RoutePublic(
            key="lawyer",
            name="弁護士（発信者情報開示・損害賠償を含む）",
            description="運営者が削除に応じない場合の仮処分、投稿者を特定する発信者情報開示"
            "請求は弁護士に依頼します。接続事業者のログ保存期間は3〜6か月程度のため、"
            "早めの相談が必要です。費用の立替えは法テラスに相談できます。",
            url="https://www.houterasu.or.jp/",
        )
    )
    return routes
