"""Talk-off and false-alarm corpus for the tone detectors: speech and music on hold, 8 kHz int16.

- `speech_corpus(seconds)`: synthetic speech made with espeak-ng (Debian `espeak-ng`) in many
  languages, voices (male/female variants, klatt, whisper), pitches and speeds, each utterance at
  its own level between -26 and -8 dBm0 with short pauses between utterances, resampled to 8 kHz
  by sox (Debian `sox`) and band-limited to 300-3400 Hz like a telephone line.
- `moh_corpus(seconds)`: the music-on-hold tracks of Debian `asterisk-moh-opsound-wav`
  (/usr/share/asterisk/moh/*.wav, 8 kHz mono), concatenated, repeated if more is asked for.
- `talkoff_corpus(seconds)`: both, speech first.

Everything is generated once and cached under `$CALLBOX_TEST_CACHE` (default
/tmp/callbox-test-cache) as `.npy`, keyed by a hash of everything that shapes the content, so a
change of texts or voices makes a new file. A missing tool or MOH directory raises
`CorpusError` naming the Debian package: tests fail, never skip.

Used by the DTMF talk-off tests and by the call-progress detector's voice/false-alarm tests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from cython_ext.levels import level_dbm0

RATE = 8000
MOH_DIR = Path("/usr/share/asterisk/moh")
CORPUS_VERSION = 1

# (espeak-ng voice, text). Texts are call-centre style: greetings, menus, numbers, names.
TEXTS: dict[str, str] = {
    "en-us": (
        "Thank you for calling. Your call is important to us. Please enter your account number "
        "followed by the pound key. For billing, press one. For technical support, press two. "
        "Our office hours are Monday to Friday, eight a.m. to six p.m. Your reference number is "
        "four seven one nine two three zero five eight six. I am sorry, I did not understand "
        "that. Could you please repeat your date of birth? Hello, this is Margaret from customer "
        "care, how can I help you today? Hmm, yes, okay, right, I see, mmm. Ninety nine point "
        "nine percent of the time the system works perfectly well."
    ),
    "en-gb": (
        "Good afternoon, you are through to the accounts department. I am afraid all of our "
        "advisers are busy at the moment. Please hold the line and we will be with you shortly. "
        "Would you like to leave a message after the tone? The weather in Manchester tomorrow "
        "will be cloudy with occasional showers. Seven hundred and twenty three pounds fifty."
    ),
    "de": (
        "Guten Tag, Sie sind mit dem Kundenservice verbunden. Bitte geben Sie Ihre "
        "Kundennummer ein. Für Fragen zu Ihrer Rechnung drücken Sie die Eins. Alle unsere "
        "Mitarbeiter sind im Moment im Gespräch. Bitte haben Sie etwas Geduld. Vielen Dank für "
        "Ihren Anruf und auf Wiederhören. Zweiundvierzig, siebzehn, achthundertneunundneunzig."
    ),
    "fr-fr": (
        "Bonjour et bienvenue. Tous nos conseillers sont actuellement en ligne. Merci de "
        "patienter quelques instants. Pour connaître le solde de votre compte, tapez un. Pour "
        "parler à un conseiller, tapez zéro. Votre appel peut être enregistré. Quatre-vingt-dix-"
        "sept, soixante-douze, mille neuf cent quatre-vingt-quatre. Au revoir et bonne journée."
    ),
    "es": (
        "Buenos días, gracias por llamar. Su llamada es muy importante para nosotros. Por "
        "favor, marque su número de cliente seguido de la tecla almohadilla. Para hablar con un "
        "agente, pulse cero. Le atenderemos en breve. Trescientos cuarenta y cinco, dieciocho."
    ),
    "it": (
        "Buongiorno, benvenuti nel servizio clienti. Tutti i nostri operatori sono occupati. "
        "Restate in linea per non perdere la priorità acquisita. Per informazioni sulla bolletta "
        "premere uno. Grazie e arrivederci. Centoventitré, quarantasei, settecentottantanove."
    ),
    "pt-br": (
        "Olá, obrigado por ligar. Por favor, digite o número do seu documento. Para falar com "
        "um atendente, tecle nove. Aguarde na linha, em breve você será atendido. Quinhentos e "
        "sessenta e sete, oitenta e nove, trinta e dois."
    ),
    "nl": (
        "Goedemiddag, u spreekt met de klantenservice. Al onze medewerkers zijn in gesprek. "
        "Blijft u alstublieft aan de lijn. Toets één voor vragen over uw factuur. Tweehonderd "
        "vijfenzeventig, achttien, negenennegentig. Dank u wel en tot ziens."
    ),
    "sv": (
        "Hej och välkommen till kundtjänst. Alla våra handläggare är upptagna just nu. Tryck "
        "ett för fakturafrågor och två för teknisk support. Tack för ditt samtal. Sjuttiofem, "
        "åttiotre, tolvhundra."
    ),
    "pl": (
        "Dzień dobry, dziękujemy za połączenie. Wszyscy konsultanci są zajęci. Prosimy "
        "pozostać na linii. Aby sprawdzić stan konta, naciśnij jeden. Czterysta pięćdziesiąt "
        "sześć, siedemdziesiąt osiem. Do widzenia."
    ),
    "fi": (
        "Hyvää päivää ja tervetuloa asiakaspalveluun. Kaikki asiakaspalvelijamme ovat "
        "varattuja. Odottakaa hetki. Paina ykköstä laskutusta koskevissa asioissa. Kiitos "
        "soitostanne. Kolmekymmentäneljä, seitsemänsataa."
    ),
    "tr": (
        "İyi günler, müşteri hizmetlerine hoş geldiniz. Tüm temsilcilerimiz şu anda meşgul. "
        "Lütfen hatta kalınız. Fatura işlemleri için bire basınız. Dört yüz elli altı, "
        "yetmiş sekiz. Teşekkür ederiz."
    ),
    "ru": (
        "Здравствуйте, вы позвонили в службу поддержки. Все операторы заняты. Пожалуйста, "
        "оставайтесь на линии. Для проверки баланса нажмите один. Четыреста пятьдесят шесть, "
        "семьдесят восемь. Спасибо за звонок, до свидания."
    ),
    "el": (
        "Καλημέρα σας, καλέσατε την εξυπηρέτηση πελατών. Όλοι οι συνεργάτες μας είναι "
        "απασχολημένοι. Παρακαλούμε περιμένετε στη γραμμή. Ευχαριστούμε πολύ."
    ),
    "cmn": (
        "您好，欢迎致电客户服务中心。所有座席都在忙，请稍候。"
        "查询账单请按一，人工服务请按零。谢谢您的来电，再见。"
    ),
    "ja": (
        "お電話ありがとうございます。ただいま電話が大変混み合っております。そのままお待ちください。"
    ),
    "hi": "नमस्ते, ग्राहक सेवा में आपका स्वागत है। कृपया लाइन पर बने रहें। धन्यवाद।",
    "ar": "مرحبا بكم في خدمة العملاء. جميع موظفينا مشغولون حاليا. يرجى الانتظار. شكرا لاتصالكم.",
    "vi": (
        "Xin chào, cảm ơn quý khách đã gọi đến tổng đài chăm sóc khách hàng. "
        "Vui lòng chờ trong giây lát."
    ),
    "hu": "Jó napot kívánok, az ügyfélszolgálatot hívta. Kérjük, tartsa a vonalat. Köszönjük.",
}

# espeak-ng voice variants (male, female, synthetic, whispered) and (pitch, speed) settings.
VARIANTS = ("m1", "f2", "m3", "f4", "klatt", "m7", "f5", "klatt4", "whisper", "f1")
PROSODY = ((50, 165), (85, 150), (20, 185), (99, 140), (65, 200))


class CorpusError(RuntimeError):
    """The corpus cannot be built (a Debian package is missing); the message names it."""


def cache_dir() -> Path:
    path = Path(os.environ.get("CALLBOX_TEST_CACHE", "/tmp/callbox-test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise CorpusError(f"{tool} not found: install the Debian package {package}")
    return found


def _read_wav16(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise CorpusError(f"{path}: expected 16-bit mono")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


def _utterances() -> list[tuple[str, str, int, int, str]]:
    """Every (voice, variant, pitch, speed, text) in a fixed order that cycles languages."""
    out = []
    langs = list(TEXTS)
    for round_ in range(len(VARIANTS)):
        for i, lang in enumerate(langs):
            variant = VARIANTS[(i + round_) % len(VARIANTS)]
            pitch, speed = PROSODY[(i + 2 * round_) % len(PROSODY)]
            out.append((lang, variant, pitch, speed, TEXTS[lang]))
    return out


def _speak(espeak: str, sox: str, tmp: Path, utt: tuple[str, str, int, int, str]) -> np.ndarray:
    lang, variant, pitch, speed, text = utt
    raw, tel = tmp / "raw.wav", tmp / "tel.wav"
    cmd = [espeak, "-v", f"{lang}+{variant}", "-p", str(pitch), "-s", str(speed), "-w", str(raw)]
    subprocess.run([*cmd, text], check=True, capture_output=True)
    # 8 kHz, telephone band (300-3400 Hz), 16-bit mono.
    band = ["sinc", "300-3400"]
    subprocess.run(
        [sox, "-q", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(tel), *band],
        check=True,
        capture_output=True,
    )
    return _read_wav16(tel)


def _cached(name: str, key: str, seconds: float, build) -> np.ndarray:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256(f"{CORPUS_VERSION}|{key}|{seconds}".encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{int(seconds)}s-{digest}.npy"
    if path.exists():
        return np.load(path)
    data = np.ascontiguousarray(build(), dtype=np.int16)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
    with os.fdopen(fd, "wb") as f:
        np.save(f, data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)  # atomic: parallel test workers never see a half-written file
    return data


def speech_corpus(seconds: float) -> np.ndarray:
    """`seconds` of espeak-ng speech (many voices and languages) as 8 kHz int16."""
    utts = _utterances()
    key = repr((utts, "sinc300-3400", "levels-26..-8", "pause0.1-0.6"))

    def build() -> np.ndarray:
        espeak = _need("espeak-ng", "espeak-ng")
        sox = _need("sox", "sox")
        rng = np.random.default_rng(2024)
        want = int(seconds * RATE)
        parts: list[np.ndarray] = []
        have = 0
        with tempfile.TemporaryDirectory() as d:
            i = 0
            while have < want:
                speech = _speak(espeak, sox, Path(d), utts[i % len(utts)]).astype(np.float64)
                i += 1
                level = level_dbm0(speech)
                if not np.isfinite(level):
                    continue
                gain = 10.0 ** ((rng.uniform(-26.0, -8.0) - level) / 20.0)
                pause = np.zeros(int(rng.uniform(0.1, 0.6) * RATE))
                for chunk in (speech * gain, pause):
                    parts.append(np.clip(np.rint(chunk), -32768, 32767).astype(np.int16))
                    have += len(chunk)
        return np.concatenate(parts)[:want]

    return _cached("speech", key, seconds, build)


def moh_corpus(seconds: float) -> np.ndarray:
    """`seconds` of Debian's music on hold (all tracks, repeated if needed) as 8 kHz int16."""
    tracks = sorted(MOH_DIR.glob("*.wav")) if MOH_DIR.is_dir() else []
    if not tracks:
        raise CorpusError(f"no music on hold in {MOH_DIR}: install asterisk-moh-opsound-wav")
    key = repr([(t.name, t.stat().st_size) for t in tracks])

    def build() -> np.ndarray:
        music = []
        for t in tracks:
            with wave.open(str(t), "rb") as w:
                if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                    raise CorpusError(f"{t}: expected 8 kHz mono 16-bit")
                music.append(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"))
        allm = np.concatenate(music).astype(np.int16)
        reps = int(np.ceil(seconds * RATE / len(allm)))
        return np.tile(allm, reps)[: int(seconds * RATE)]

    return _cached("moh", key, seconds, build)


def moh_seconds_available() -> float:
    """Length of all the MOH tracks, in seconds (what `moh_corpus` gives without repeating)."""
    total = 0
    for t in sorted(MOH_DIR.glob("*.wav")):
        with wave.open(str(t), "rb") as w:
            total += w.getnframes()
    return total / RATE


def talkoff_corpus(speech_seconds: float, moh_seconds: float) -> np.ndarray:
    """Speech then music, as one int16 signal."""
    return np.concatenate([speech_corpus(speech_seconds), moh_corpus(moh_seconds)])
