"""Interpretable signals: lexicons and patterns that staff can read back as reasons.

Each signal is one column of the model's features (so the model learns how much it counts)
and, when it fires, one Japanese reason naming what matched. They are deliberately specific
(死ね, not 死ぬ: "死ぬほど痛かった" is a benign review; ナイフで刺す, not ナイフ: a caption of a
cake being cut is not a threat) because a signal that fires on ordinary language would teach
the model and staff to distrust it.

Attack signals (an insult, a threat, an accusation of a crime, a slur, a phone number or street
address, a person's name beside their private life) are evidence of an attack by themselves; the
others (hearsay, a malpractice claim, a mention of a group, a home, an SNS, a name) are context
the model weighs but that attack no one alone. A text is flagged only with evidence
(see ``classifier.model``), and its reasons name it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from classifier.text import Analysed


@dataclass(frozen=True)
class Signal:
    name: str
    # Reason shown to staff; "{terms}" is replaced by what matched.
    reason: str
    # What fires it, searched in the text; none: Sudachi's person-name tags. Several patterns
    # rather than one alternation when their branches start differently (see ADDRESS).
    patterns: tuple[re.Pattern[str], ...]
    # Whether the signal speaks for harm (shown on flagged results) or for legitimate opinion.
    harmful: bool = True
    # Whether it is an attack by itself (an insult, a threat…) rather than context that matters
    # only with other signals (hearsay, a name, a group, a home): see ATTACK_SIGNALS.
    attack: bool = False


def _words(*terms: str) -> tuple[re.Pattern[str], ...]:
    """The terms as patterns: one alternation of the terms that begin with a plain character,
    and one of the rest (a look-behind, a group, a character class). The regex engine skips
    ahead to where one of an alternation's first characters occurs only when every branch
    begins with one; a single branch that does not makes it try every branch at every position
    of the text (which made the insult lexicon alone cost a tenth of classification)."""
    plain = [t for t in terms if t[0] not in "([\\." and (len(t) == 1 or t[1] not in "?*+{")]
    other = [t for t in terms if t not in plain]
    return tuple(re.compile("|".join(group)) for group in (plain, other) if group)


CRIME = _words(
    r"不正請求",
    r"水増し請求",
    r"水増し",
    r"架空請求",
    r"過剰請求",
    r"保険金?詐欺",
    r"詐欺",
    r"横領",
    r"脱税",
    r"裏金",
    r"隠蔽",
    r"隠ぺい",
    r"揉み消",
    r"もみ消",
    r"横流し",
    r"無資格",
    r"無免許",
    r"偽医者",
    r"ニセ医者",
    r"使い回",
    r"使いまわ",
    r"改ざん",
    r"改竄",
    r"捏造",
    r"逮捕",
    r"前科",
    r"書類送検",
    r"違法",
    r"賄賂",
    r"リベート",
    r"キックバック",
    r"癒着",
    r"わいせつ",
    r"猥褻",
    r"盗撮",
    r"暴行",
    r"虐待",
    r"薬物",
    r"麻薬",
    r"覚醒剤",
    r"反社",
    r"暴力団",
    r"ヤクザ",
    r"行政処分",
    r"業務停止",
    r"免許停止",
    r"医師免許を?剥奪",
    r"期限切れの薬",
    r"期限切れ",
    r"闇営業",
    r"患者を食い物",
    r"カルテを?(?:書き換|改ざん|偽造)",
    r"偽造",
    r"着服",
    r"ぼったくり請求",
)
# Hearsay: a fact is still asserted when it is hedged (docs/domain.md: 〜らしい, 聞いた).
HEARSAY = _words(
    r"らしい",
    r"らしく",
    r"噂",
    r"うわさ",
    r"聞いた",
    r"聞きました",
    r"聞いて",
    r"と聞",
    r"って聞",
    r"言ってた",
    r"言っていた",
    r"言ってました",
    r"って話",
    r"との話",
    r"という話",
    r"知り合い",
    r"元職員",
    r"元スタッフ",
    r"元看護師",
    r"元従業員",
    r"関係者",
    r"内部の人",
    r"有名な話",
    r"みんな知って",
    r"って評判",
    r"だそうです",
    r"だそうだ",
    r"とのこと",
)
# Allegations of misdiagnosis or malpractice: the grey zone (docs/domain.md), surfaced not decided.
MALPRACTICE = _words(
    r"誤診",
    r"医療ミス",
    r"医療過誤",
    r"見落とし",
    r"見逃",
    r"違う診断",
    r"別の診断",
    r"手術ミス",
    r"施術ミス",
    r"後遺症",
    r"失敗され",
    r"悪化した",
    r"悪化させ",
    r"間違った診断",
    r"誤った診断",
    r"誤投薬",
    r"薬を間違",
    r"間違えた薬",
)
INSULT = _words(
    r"クズ",
    r"くず(?!れ|か|餅|湯)",
    r"屑",
    r"バカ(?!ンス)",
    r"馬鹿",
    r"ばか(?!り|で|に)",
    r"アホ(?!ウドリ)",
    r"あほ(?:か|や|だ|ら|くさ|すぎ|ちゃう)",
    r"ゴミ(?:医者|病院|クズ|カス|みたい|人間|以下|同然|野郎|ども|共)",
    r"人間のゴミ",
    r"ヤブ(?:医|歯|じゃ|かよ|だな|ですね)",
    r"やぶ医者",
    r"藪医者",
    r"死ね",
    r"しね(?:よ|ば|$|。|!)",
    r"氏ね",
    r"死んで(?:くれ|ほしい|欲しい|しまえ|詫び)",
    r"死ねば(?:いい|良い)",
    r"くたばれ",
    r"消えろ",
    r"消えて(?:くれ|ほしい|欲しい)",
    r"失せろ",
    r"うせろ",
    r"黙れ",
    r"だまれ",
    r"ブス(?<!クブス)",
    r"ドブス",
    r"ぶす(?:が|は|だ|の|すぎ)",
    r"ブサ(?:イク|面|メン|いく)",
    r"不細工",
    r"ハゲ(?!タカ)",
    r"はげ(?:頭|親父|おやじ|じじい)",
    r"デブ",
    r"キモ(?!ノ|ン|チ)",
    r"きも(?:い|すぎ|っ)",
    r"キショ",
    r"うざ(?:い|すぎ|っ|く)",
    r"ウザ(?:い|すぎ|っ|く)",
    r"無能",
    r"低能",
    r"低脳",
    r"能無し",
    r"知恵遅れ",
    r"脳みそ(?:ない|が足り|空っぽ|腐)",
    r"頭(?:が)?(?:湧|沸)いて",
    r"税金泥棒",
    r"給料泥棒",
    r"カス(?![タテトケクピ])",
    r"クソ(?!ゲー|暑|寒|長|高|忙)",
    r"糞",
    r"ババア",
    r"ばばあ",
    r"BBA",
    r"ジジイ",
    r"じじい",
    r"老害",
    r"害虫",
    r"ウジ虫",
    r"蛆虫",
    r"寄生虫(?:め|野郎|みたい|ども|共)",
    r"ゴキブリ(?:以下|野郎|みたい|並み|ども|女|男)",
    r"キチガイ",
    r"きちがい",
    r"気違い",
    r"基地外",
    r"池沼",
    r"役立たず",
    r"恥さらし",
    r"豚(?:野郎|女|みたいな(?:顔|体|女|男))",
    r"ブタ(?:野郎|女|みたいな(?:顔|体|女|男))",
    r"メス(?:豚|ブタ)",
    r"雌豚",
    r"頭(?:が)?おかしい",
    r"頭(?:が)?悪(?:い|すぎ|そう)",
    r"生きて(?:る|いる)価値",
    r"生きる価値",
    r"人間失格",
    r"猿(?:以下|並み|みたいな(?:顔|奴|やつ))",
    r"サル(?:以下|並み|みたいな(?:顔|奴|やつ))",
    r"詐欺師",
    r"犯罪者",
    r"人殺し",
    r"殺人鬼",
    r"でくの坊",
    r"間抜け",
    r"まぬけ",
    r"ボケ(?<!ピンボケ)(?<!寝ボケ)(?<!時差ボケ)(?!防止|て|た|る|ちゃ)",
    r"ボケナス",
    r"てめえ",
    r"てめぇ",
    r"テメエ",
    r"テメー",
    r"貴様",
    r"雑魚",
    r"ザコ",
    r"底辺",
    r"負け組",
    r"売女",
    r"ビッチ",
    r"ヤリマン",
    r"キモオタ",
    r"乞食",
    r"こじき",
    r"死に損な",
    r"ヤブ(?:の|は|が|め|野郎)",
    r"チビ",
    r"メンヘラ",
    r"何様",
    r"ミジンコ",
    r"田舎者",
    r"田舎もん",
    r"性格(?:が)?(?:ゴミ|ブス|悪すぎ|終わって)",
    r"顔採用",
)
THREAT = _words(
    r"殺す",
    r"殺し(?:て|に|たい|ます|てやる)",
    r"殺され(?:たい|ても)",
    r"殺そう",
    r"ぶっ殺",
    r"ころす",
    r"コロス",
    r"死なす",
    r"燃やす",
    r"燃やし",
    r"燃やさ",
    r"放火",
    r"火を(?:つけ|付け|放)",
    r"刺す(?!ような)",
    r"刺して(?:やる|やろう)",
    r"刺しに",
    r"爆破",
    r"爆弾(?:を|仕掛|しかけ|送)",
    r"爆発物",
    r"ぶち殺",
    r"殺しちゃ",
    r"つきまと",
    r"付きまと",
    r"脅しじゃない",
    r"寝られなくして",
    r"最後の警告",
    r"次は(?:ない|無い)(?:ぞ|から|と思え|。|$)",
    r"爆発させ",
    r"待ち伏せ",
    r"夜道(?:に|には|は)?(?:気を|注意|せいぜい)",
    r"夜道を歩け",
    r"帰り道に?(?:気を|注意)",
    r"覚えてろ",
    r"覚えとけ",
    r"覚えておけ",
    r"覚悟しろ",
    r"覚悟しとけ",
    r"覚悟しておけ",
    r"ただじゃ済ま",
    r"ただでは済ま",
    r"タダじゃ済ま",
    r"タダで済むと",
    r"後悔させ",
    r"痛い目",
    r"どうなっても(?:知らない|しらない|いい)",
    r"家族がどうなって",
    r"子供がどうなって",
    r"襲(?:う(?:ぞ|から)|って(?:やる|やろう)|撃)",
    r"殴(?:る(?:ぞ|から)|りに|って(?:やる|やろう)|り殺)",
    r"ぶん殴",
    r"ぶっ飛ばす",
    r"しばく",
    r"しばいたろ",
    r"乗り込(?:んで(?:やる|いく|行く)|む(?:から|ぞ))",
    r"押しかけ(?:て|る)",
    r"押し掛け(?:て|る)",
    r"潰してやる",
    r"ぶっ潰",
    r"血祭り",
    *(
        rf"{weapon}(?:で|を持って)(?:刺|切りつけ|襲|行く|いく|乗り込)"
        for weapon in ("包丁", "ナイフ", "刃物")
    ),
    r"灯油を?(?:撒|まい|まく|かけ|ぶちまけ)",
    r"ガソリンを?(?:撒|まい|まく|かけ|ぶちまけ)",
    r"拉致",
    r"住所(?:は)?(?:知って|わかって|分かって|調べた|特定)",
    r"家(?:は)?(?:知って|わかって|分かって)る",
    r"特定(?:した|してやる|済み|済)",
    r"晒(?:す(?:ぞ|から)|してやる)",
    r"ずっと見て(?:る|いる)(?:から|ぞ)",
    r"見張って",
    r"待ってるからな",
    r"待ってろ",
    r"行くからな",
    r"生きて帰れ",
    r"命は(?:ない|無い)",
    r"天誅",
    r"報いを受け",
    r"ぶちのめ",
    r"ボコ(?:ボコに|る|って)",
    r"首を洗",
    r"埋めるぞ",
    r"沈めるぞ",
)
# Contempt aimed at a group (nationality, ethnicity, disability, sexuality, poverty, gender):
# a group named, then within the sentence what is said of it; or scorn, then the group.
_GROUPS = (
    "外国人",
    "中国人",
    "韓国人",
    "朝鮮人",
    "在日",
    "外人",
    "黒人",
    "部落",
    "同和",
    "障害者",
    "障がい者",
    "精神障害",
    "知的障害",
    "生活保護",
    "アイヌ",
    "フィリピン人",
    "ベトナム人",
    "外国籍",
    "出身者",
    "ゲイ",
    "同性愛",
    "女医",
    "女の医者",
    "女性医師",
)
_CONTEMPT = (
    "(?:帰れ|出て(?:いけ|行け|け)|来るな|くるな|いらない|要らない|お断り|入れるな|雇うな|雇わない"
    "|のくせ|くせに|分際|嫌い|汚い|汚らし|臭|信用でき|信用なら|劣って|劣る|レベルが低|頭が悪|頭悪"
    "|バカ|馬鹿|アホ|迷惑|犯罪|診てもらいたくない|診てほしくない|診られたくない|触られたくない|気持ち悪"
    "|キモ|まともじゃない|排除|追い出|消えろ|死ね|ゴミ|クズ|カス|ろくな|当てにならない|無理|ダメ|駄目"
    "|使えない|させるな|するべきじゃない|じゃ無理|なんか(?:に|が))"
)
_SCORN = ("汚い", "臭い", "くさい", "たかが", "どうせ", "所詮")
_TARGETS = "(?:外国人|中国人|韓国人|朝鮮人|在日|外人|黒人|部落|障害者|障がい者|生活保護|女医|女)"
# Slurs, and contempt aimed at a group: attacks by themselves.
DISCRIMINATION = _words(
    r"チョン(?!マゲ|ボ|チョン)",
    r"シナ人",
    r"支那",
    r"ガイジン",
    r"土人",
    r"ガイジ(?!ン)",
    r"かたわ",
    r"片輪",
    r"エタ非人",
    r"穢多",
    r"女のくせ",
    r"女の分際",
    r"男のくせ",
    r"オカマ",
    r"おかま(?!い)",
    r"ホモ(?!ジ|サピ|ロ)",
    r"レズ(?!ビアン)",
    r"ナマポ",
    r"貧乏人",
    r"日本人じゃない",
    r"国に帰れ",
    r"国へ帰れ",
    r"自分の国で",
    r"日本から出て(?:いけ|行け|け)",
    r"生ポ",
    r"池沼",
    *(rf"{group}[^。！？!?\n]{{0,25}}{_CONTEMPT}" for group in _GROUPS),
    *(rf"{prefix}[^。！？!?\n]{{0,10}}{_TARGETS}" for prefix in _SCORN),
)
# Who a text is about (nationality, ethnicity, disability, sexuality…): not an attack by itself —
# 「外国人の男の子が座っています」 is a caption — but a column the model can weigh with the rest.
GROUP = _words(
    r"中国人",
    r"韓国人",
    r"朝鮮",
    r"在日",
    r"外人",
    r"外国人",
    r"外国籍",
    r"部落",
    r"同和",
    r"障害者",
    r"障がい者",
    r"精神障害",
    r"知的障害",
    r"女は",
    r"ゲイ(?!ラ|ン|ト|ム|ジ)",
    r"同性愛",
    r"生活保護",
    r"黒人",
    r"ベトナム人",
    r"フィリピン人",
    r"東南アジア",
    r"帰化",
    r"反日",
    r"アイヌ",
    r"日本人以外",
    r"出身者",
)
# Whom a text is about: a person (pronoun, role, relative, honorific, a name — see aims_at_someone)
# or the clinic and its work. Attacks are aimed at someone; a remark about the weather is not,
# however much a word in it weighs in the corpus's attacks.
# People a text may be aimed at: pronouns, roles, relatives, honorifics. 受け付け is how the
# tokenizer normalises 受付, the form the model's words are in.
PEOPLE = (
    r"お前",
    r"おまえ",
    r"おまん",
    r"あなた",
    r"あんた",
    r"あいつ",
    r"こいつ",
    r"そいつ",
    r"どいつ",
    r"奴",
    r"やつ",
    r"ヤツ",
    r"てめ",
    r"テメ",
    r"貴様",
    r"彼",
    r"全員",
    r"連中",
    r"院長",
    r"先生",
    r"医者",
    r"医師",
    r"女医",
    r"ドクター",
    r"看護",
    r"ナース",
    r"受付",
    r"スタッフ",
    r"職員",
    r"衛生士",
    r"助手",
    r"助産師",
    r"薬剤師",
    r"整体師",
    r"事務",
    r"店員",
    r"社長",
    r"店長",
    r"オーナー",
    r"ヤブ",
    r"人",
    r"男",
    r"女",
    r"ババア",
    r"ばばあ",
    r"ジジイ",
    r"じじい",
    r"家族",
    r"親",
    r"子供",
    r"子ども",
    r"娘",
    r"息子",
    r"妻",
    r"夫",
    r"嫁",
    r"旦那",
    r"受け付け",
)
TARGET = _words(
    *PEOPLE,
    r"病院",
    r"クリニック",
    r"医院",
    r"歯科",
    r"内科",
    r"外科",
    r"皮膚科",
    r"眼科",
    r"小児科",
    r"耳鼻",
    r"婦人科",
    r"整骨院",
    r"接骨院",
    r"ここ",
    r"この店",
    r"会社",
    r"患者",
    r"さん",
    r"くん",
    r"君",
    r"ちゃん",
    r"様",
    r"氏",
    # The clinic's work: a review's subject even when it names no one (請求だけしてる).
    r"医",
    r"院",
    r"診",
    r"療",
    r"薬",
    r"検査",
    r"健診",
    r"請求",
    r"カルテ",
    r"保険",
    r"予約",
    r"手術",
    r"処方",
    r"注射",
    r"ワクチン",
    r"施術",
)
# Each branch starts with a character (or class) rather than a look-behind or ``\d``: the regex
# engine then skips ahead to where a match can begin instead of trying every branch at every
# position (these two patterns were most of the cost of the signals). ``0(?<!\d0)`` is
# ``(?<!\d)0``; ``[0-9]`` leads where ``\d`` did, since NFKC (classifier.text.clean) has made
# full-width digits ASCII.
PHONE = re.compile(r"0(?<!\d0)(?:\d{1,4}-\d{1,4}-\d{3,4}|[5789]0\d{8}|\d{9})(?!\d)")
# Four patterns, not one alternation: branches that start with different character classes
# leave the regex engine no first character to skip ahead to, and the one alternation cost three
# times the four patterns together.
ADDRESS = (
    re.compile(r"[0-9](?:[0-9]{0,3}丁目|[0-9]{0,4}番地)"),
    re.compile(r"[1-9](?<![\d-][1-9])\d{0,3}-\d{1,4}-\d{1,4}(?![\d-])"),
    re.compile(r"[都道府県市区町村][^\s、。]{0,10}(?<![\d-])[1-9]\d{0,3}-\d{1,4}(?![\d-])"),
    re.compile(r"マンションの[0-9]|号室(?<=[0-9]号室)"),
)
# Words about someone's home: private only next to a name or other details.
HOME = _words(r"自宅", r"住所", r"実家")
SNS = re.compile(
    r"@[A-Za-z0-9_]{3,}|インスタ|Instagram|instagram|Twitter|twitter|ツイッター|X\(旧|LINE ?ID"
    r"|Facebook|facebook|フェイスブック|TikTok|アカウント|裏垢|本名"
)
# Private life and third parties' health: what turns a staff member's name into a privacy leak.
# Private life, whereabouts and third parties' health: what turns a person's name into a
# privacy leak (a name alone — thanking 鈴木先生 — is not one).
PRIVATE_LIFE = _words(
    r"離婚",
    r"不倫",
    r"浮気",
    r"借金",
    r"妊娠",
    r"性病",
    r"HIV",
    r"エイズ",
    r"うつ病",
    r"精神科に通",
    r"病歴",
    r"入院歴",
    r"前の旦那",
    r"旦那",
    r"奥さん",
    r"嫁",
    r"妻子",
    r"娘(?:さん)?(?:は|が|の)",
    r"息子(?:さん)?(?:は|が|の)",
    r"小学校",
    r"中学",
    r"高校",
    r"大学に通",
    r"彼氏",
    r"彼女(?:と|が)",
    r"キャバクラ",
    r"風俗",
    r"ホスト",
    r"愛人",
    r"整形",
    r"年収",
    r"車のナンバー",
    r"ナンバー",
    r"通ってる",
    r"患者の(?:名前|病名)",
    r"毎晩",
    r"毎朝",
    r"毎日[^。]{0,8}(?:通|帰|寄|行|乗)",
    r"帰り道",
    r"帰宅",
    r"通勤",
    r"最寄り駅",
    r"最寄駅",
    r"住んで(?:い|る)",
    r"住まい",
    r"行きつけ",
    r"出没",
    r"時(?<=[0-9]時)(?:頃|ごろ|過ぎ)?に(?:帰|出|家|駅|店|寄)",
    r"家(?:は|が|の場所)",
    r"自宅(?:は|が|の場所)",
)
EXPERIENCE = _words(
    r"私",
    r"わたし",
    r"自分",
    r"僕",
    r"俺",
    r"うちの子",
    r"娘を",
    r"息子を",
    r"子供を",
    r"母を",
    r"父を",
    r"受診",
    r"診てもら",
    r"行きました",
    r"行った",
    r"通院",
    r"待たされ",
    r"待ち時間",
    r"説明",
    r"対応",
    r"二度と",
    r"もう行かない",
    r"残念",
    r"感じ",
    r"思います",
    r"と思う",
    r"でした",
    r"ました",
)

SIGNALS: tuple[Signal, ...] = (
    Signal("crime", "具体的な犯罪・不正行為の断定（{terms}）", CRIME, attack=True),
    Signal("hearsay", "伝聞による事実の摘示（{terms}）", HEARSAY),
    Signal("malpractice", "医療過誤・誤診の主張（{terms}）：体験に基づく批判か要確認", MALPRACTICE),
    Signal("insult", "侮辱表現（{terms}）", INSULT, attack=True),
    Signal("threat", "脅迫表現（{terms}）", THREAT, attack=True),
    Signal("discrimination", "差別表現（{terms}）", DISCRIMINATION, attack=True),
    Signal("group", "属性（国籍・民族・障害・性別等）への言及（{terms}）", GROUP),
    Signal("phone", "電話番号の記載（{terms}）", (PHONE,), attack=True),
    Signal("address", "住所の記載（{terms}）", ADDRESS, attack=True),
    Signal("home", "自宅・住所への言及（{terms}）", HOME),
    Signal("sns", "SNSアカウント等の記載（{terms}）", (SNS,)),
    Signal("private_life", "私生活・居場所・第三者の健康に関する記載（{terms}）", PRIVATE_LIFE),
    Signal("person_name", "人名（個人名）の記載（{terms}）", ()),
    Signal("experience", "体験に基づく意見・批判", EXPERIENCE, harmful=False),
)
SIGNAL_NAMES: tuple[str, ...] = (*(s.name for s in SIGNALS), "crime_hearsay", "name_private")
# Signals that are themselves an attack (an insult, a threat, an accusation of a crime, a slur,
# a phone number or street address) — the evidence a text needs before it may be flagged.
# A person's name counts only together with their private life or home (see attack_evidence).
ATTACK_SIGNALS: frozenset[str] = frozenset(s.name for s in SIGNALS if s.attack)
# Context that makes a name a privacy matter.
_NAME_CONTEXT = frozenset({"private_life", "home", "address", "sns"})
_BY_NAME = {s.name: s for s in SIGNALS}


def _fired(record: Analysed) -> dict[str, list[str]]:
    """Signal name → matched terms, computed once per record (features and reasons share it)."""
    found: dict[str, list[str]] | None = record.memo.get("signals")
    if found is None:
        fire([record])
        found = record.memo["signals"]
    return found


# Joins a batch's texts for scanning. Cleaned text has no line breaks (classifier.text.clean
# turns every run of white space into one space), and no pattern matches one: no match can run
# from one text into the next, and look-arounds see a line break where a text starts or ends,
# just as they would see nothing. ``$`` (end of text) becomes "before a line break" by
# scanning with re.MULTILINE.
_JOIN = "\n"


_MULTILINE = {
    signal.name: tuple(re.compile(p.pattern, p.flags | re.MULTILINE) for p in signal.patterns)
    for signal in SIGNALS
}


def fire(records: Sequence[Analysed]) -> None:
    """Find the signals of every record not yet done, and memoise them on the record.

    Each pattern scans the batch's texts joined into one string, once: a pattern call per text
    and pattern costs more than the scanning itself on review-sized texts.
    """
    todo = [r for r in records if "signals" not in r.memo]
    if any(_JOIN in r.text for r in todo):
        # Not cleaned text (e.g. a caller's own record): scanned one by one.
        for record in todo:
            _scan([record], multiline=False)
    elif todo:
        _scan(todo, multiline=True)


def _scan(records: list[Analysed], *, multiline: bool) -> None:
    joined = _JOIN.join(r.text for r in records)
    starts = np.cumsum([0] + [len(r.text) + len(_JOIN) for r in records[:-1]])
    found: list[dict[str, list[str]]] = [{} for _ in records]
    for signal in SIGNALS:
        if not signal.patterns:
            for terms, record in zip(found, records, strict=True):
                if names := record.names():
                    terms[signal.name] = names
            continue
        patterns = _MULTILINE[signal.name] if multiline else signal.patterns
        matches = [(m.start(), m.group()) for p in patterns for m in p.finditer(joined)]
        if not matches:
            continue
        rows = np.searchsorted(starts, [start for start, _ in matches], side="right") - 1
        for row, (_, term) in zip(rows.tolist(), matches, strict=True):
            terms = found[row]
            if signal.name in terms:
                terms[signal.name].append(term)
            else:
                terms[signal.name] = [term]
    for record, terms in zip(records, found, strict=True):
        record.memo["signals"] = terms


def attack_evidence(record: Analysed) -> list[str]:
    """The attack signals that fired on a text (a name counts with private details beside it)."""
    found = _fired(record)
    evidence = [name for name in found if name in ATTACK_SIGNALS]
    if "person_name" in found and not _NAME_CONTEXT.isdisjoint(found):
        evidence.append("person_name")
    return evidence


_PEOPLE = _words(*PEOPLE)


def names_person(word: str) -> bool:
    """Whether a word names a person a text may be aimed at (院長, 受付, あいつ…)."""
    return any(p.search(word) for p in _PEOPLE)


def aims_at_someone(record: Analysed) -> bool:
    """Whether a text names whom it is about: a person, a group, or the clinic and its work."""
    return bool(record.names()) or any(p.search(record.text) for p in TARGET)


def _unique(terms: Sequence[str], limit: int = 3) -> list[str]:
    seen: list[str] = []
    for term in terms:
        if term not in seen:
            seen.append(term)
        if len(seen) == limit:
            break
    return seen


def fired_reasons(record: Analysed, *, show_harm: bool, show_opinion: bool) -> list[str]:
    """Japanese reasons for the signals that fired on one text.

    Harm signals are shown only on results with a notable harmful probability and the opinion
    signal only on criticism: showing 侮辱表現 on a review the model judges to be ordinary
    criticism, or 批判 on a thank-you note, would only mislead staff.
    """
    found = _fired(record)
    reasons = []
    for name, terms in found.items():
        signal = _BY_NAME[name]
        if not (show_harm if signal.harmful else show_opinion):
            continue
        if name == "hearsay" and "crime" not in found and "malpractice" not in found:
            # Hearsay alone asserts nothing; it matters when it carries an allegation.
            continue
        if name == "group" and not (ATTACK_SIGNALS & found.keys()):
            # Mentioning who someone is is not an attack; it is shown beside one.
            continue
        if name == "person_name" and not ((_NAME_CONTEXT | {"crime"}) & found.keys()):
            # Naming the doctor in a complaint is ordinary; a name next to private details is not.
            continue
        reasons.append(_reason(signal, terms))
    return reasons


def _reason(signal: Signal, terms: Sequence[str]) -> str:
    # Reasons travel into takedown drafts: they name what kind of detail was posted without
    # repeating a phone number or street address once more.
    shown = [t for t in _unique(terms) if not any(ch.isdigit() for ch in t)]
    if signal.name == "phone" or not shown:
        return signal.reason.replace("（{terms}）", "")
    return signal.reason.format(terms="・".join(shown))


class SignalFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """One column per signal (1.0 when it fired), plus two interactions the law cares about:
    an allegation carried by hearsay, and a person's name together with their private life."""

    def fit(self, X: Sequence[Analysed], y: Any = None) -> SignalFeatures:
        self.n_features_out_ = len(SIGNAL_NAMES)
        return self

    def transform(self, X: Sequence[Analysed]) -> sparse.csr_matrix:
        columns = {name: i for i, name in enumerate(SIGNAL_NAMES)}
        rows: list[int] = []
        cols: list[int] = []
        fire(X)
        for row, record in enumerate(X):
            found = _fired(record)
            for name in found:
                rows.append(row)
                cols.append(columns[name])
            if "hearsay" in found and ("crime" in found or "malpractice" in found):
                rows.append(row)
                cols.append(columns["crime_hearsay"])
            if "person_name" in found and not _NAME_CONTEXT.isdisjoint(found):
                rows.append(row)
                cols.append(columns["name_private"])
        data = np.ones(len(rows), dtype=np.float64)
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(X), len(SIGNAL_NAMES)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"signal:{name}" for name in SIGNAL_NAMES], dtype=object)
