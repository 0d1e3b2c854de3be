"""The redaction corpus: planted secrets of every class the redactor must catch, and look-alikes it must leave alone.

Every value is made up and assembled at run time from a seeded generator and split prefixes, so this file holds no
string that a secret scanner would take for a live credential. Each positive case is a text with one or more planted
values; :func:`positives` also yields each case inside a JSON-encoded ``tracing`` line (the value then sits in an
escaped string, after ``\\n`` escapes when the case is multi-line). Negatives must come out of the redactor unchanged.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

UPPER, LOWER, DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UPPER + LOWER + DIGITS
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Case:
    """A text holding planted ``secrets`` of one class."""

    cls: str
    text: str
    secrets: tuple[str, ...]


class Maker:
    """Deterministic fake values: the same corpus on every run."""

    def __init__(self, seed: str) -> None:
        self.rnd = random.Random(seed)

    def chars(self, alphabet: str, n: int) -> str:
        while True:
            value = "".join(self.rnd.choice(alphabet) for _ in range(n))
            # Mixed like real keys: at least one of each class the alphabet offers.
            if all(any(c in cls for c in value) for cls in (UPPER, LOWER, DIGITS) if any(c in cls for c in alphabet)) or n < 6:
                return value

    def pem(self, label: str, lines: int = 4, newline: str = "\n") -> str:
        body = newline.join(self.chars(B64, 64) for _ in range(lines))
        return f"-----BEGIN {label}-----{newline}{body}{newline}-----END {label}-----"


def _p(*parts: str) -> str:
    """A prefix split in the source so no scanner reads a token shape in this file."""
    return "".join(parts)


def _build() -> list[Case]:
    m = Maker("aimon-redaction-corpus")
    cases: list[Case] = []

    def add(cls: str, template: str, *values: str) -> None:
        cases.append(Case(cls, template.format(*values), values))

    # -- cloud keys -----------------------------------------------------------------------------------------------
    for template in ("using access key {0} for s3", "AWS_ACCESS_KEY_ID={0}", '{{"aws_access_key_id": "{0}"}}', "creds({0})"):
        add("aws-access-key", template, _p("AK", "IA") + m.chars(UPPER + DIGITS, 16))
    add("aws-access-key", "sts issued {0}", _p("AS", "IA") + m.chars(UPPER + DIGITS, 16))
    for template in ("aws_secret_access_key = {0}", "AWS_SECRET_ACCESS_KEY={0}", "secret={0} region=eu-west-1"):
        add("aws-secret-named", template, m.chars(B64, 40))
    for template in ("credentials loaded: {0} {1}", "key pair {0} / {1}", "{1}\t{0}"):
        add("aws-secret-bare", template, m.chars(B64, 40), _p("AK", "IA") + m.chars(UPPER + DIGITS, 16))
    add("aws-secret-bare", "rotated to {0} at 10:02", m.chars(B64, 40))
    for template in ("DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey={0};EndpointSuffix=core.windows.net",
                     "storage conn AccountKey={0}", "Endpoint=sb://bus.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey={0}"):
        add("azure-key", template, m.chars(B64, 86) + "==")
    add("azure-sas", "GET https://shop.blob.core.windows.net/c/a.png?sv=2022-11-02&se=2026-01-01&sp=r&sig={0} 403", m.chars(URLSAFE, 43) + "%3D")
    add("azure-sas", "sas url ...&sig={0}&spr=https", m.chars(URLSAFE, 40))
    for template in ("maps key={0}", "calling https://maps.googleapis.com/x?key={0}", "gemini {0} quota exceeded"):
        add("gcp-api-key", template, _p("AI", "za") + m.chars(URLSAFE, 35))
    for template in ("oauth access {0} expired", "Authorization=ya29 token {0}"):
        add("gcp-oauth-token", template, _p("ya", "29.") + m.chars(URLSAFE, 60))
    add("gcp-client-secret", "client_secret {0}", _p("GOC", "SPX-") + m.chars(URLSAFE, 28))
    sa = m.pem("PRIVATE KEY", 3, "\\n")
    cases.append(Case("gcp-service-account", '{"type": "service_account", "private_key": "' + sa + '\\n", "client_email": "x"}', tuple(sa.split("\\n")[1:-1])))

    # -- VCS and CI -----------------------------------------------------------------------------------------------
    for prefix in ("ghp_", "gho_", "ghs_", "ghu_"):
        add("github-token", "git push failed with {0}", _p(prefix[:2], prefix[2:]) + m.chars(ALNUM, 36))
    add("github-token", "GITHUB_TOKEN={0}", _p("github", "_pat_") + m.chars(ALNUM, 22) + "_" + m.chars(ALNUM, 59))
    for template in ("gitlab {0} rejected", "PRIVATE-TOKEN: {0}", "CI_JOB_TOKEN={0}"):
        add("gitlab-token", template, _p("gl", "pat-") + m.chars(URLSAFE, 20))
    add("ci-token", "docker login -u ci -p {0} registry", _p("dckr", "_pat_") + m.chars(URLSAFE, 27))
    add("ci-token", "CIRCLE_TOKEN={0}", m.chars(HEX, 40))
    add("ci-token", "buildkite agent {0}", _p("bk", "ua_") + m.chars(LOWER + DIGITS, 40))

    # -- chat and webhooks ----------------------------------------------------------------------------------------
    for template in ("slack post with {0} failed", "SLACK_BOT_TOKEN={0}", '"token":"{0}"'):
        add("slack-token", template, _p("xo", "xb-") + m.chars(DIGITS, 12) + "-" + m.chars(DIGITS, 13) + "-" + m.chars(ALNUM, 24))
    for template in ("POST https://hooks.slack.com/services/{0} 404", "webhook={0}"):
        path = "T" + m.chars(UPPER + DIGITS, 8) + "/B" + m.chars(UPPER + DIGITS, 8) + "/" + m.chars(ALNUM, 24)
        add("slack-webhook", template.replace("webhook={0}", "webhook=https://hooks.slack.com/services/{0}"), path)
    for template in ("discord gateway auth {0}", "bot token: {0}", "DISCORD_TOKEN={0}"):
        add("discord-token", template, "M" + m.chars(URLSAFE, 25) + "." + m.chars(URLSAFE, 6) + "." + m.chars(URLSAFE, 38))
    for template in ("posting to https://discord.com/api/webhooks/{0} failed", "hook https://discordapp.com/api/webhooks/{0}?wait=true"):
        add("discord-webhook", template, m.chars(DIGITS, 18) + "/" + m.chars(URLSAFE, 68))
    for template in ("telegram {0} unauthorized", "GET https://api.telegram.org/bot{0}/getMe 401"):
        add("telegram-token", template, m.chars(DIGITS, 10) + ":AA" + m.chars(URLSAFE, 33))
    add("chat-webhook", "teams notify https://acme.webhook.office.com/webhookb2/{0} failed", m.chars(HEX, 32) + "@" + m.chars(HEX, 32) + "/IncomingWebhook/" + m.chars(HEX, 32))
    add("chat-webhook", "zapier https://hooks.zapier.com/hooks/catch/{0} 500", m.chars(DIGITS, 7) + "/" + m.chars(LOWER + DIGITS, 7))
    add("chat-webhook", "mattermost https://chat.acme.io/hooks/{0} 403", m.chars(LOWER + DIGITS, 26))

    # -- payment, mail, registries, vault, LLM providers ----------------------------------------------------------
    for template in ("charge failed using {0}", "STRIPE_KEY={0}", "stripe.api_key = '{0}'"):
        add("stripe-key", template, _p("sk", "_live_") + m.chars(ALNUM, 24))
    add("stripe-key", "webhook signing {0}", _p("wh", "sec_") + m.chars(ALNUM, 32))
    for template in ("sendgrid rejected {0}", "SENDGRID_API_KEY={0}", "mail via {0}"):
        add("sendgrid-key", template, _p("S", "G.") + m.chars(URLSAFE, 22) + "." + m.chars(URLSAFE, 43))
    for template in ("mailgun auth api:{0} failed", "MAILGUN={0}"):
        add("mailgun-key", template, _p("ke", "y-") + m.chars(HEX, 32))
    for template in ("npm publish with {0} 403", "//registry.npmjs.org/:_authToken={0}", "NPM_TOKEN={0}"):
        add("npm-token", template, _p("np", "m_") + m.chars(ALNUM, 36))
    for template in ("twine upload -u __token__ -p {0}", "pypi rejected {0}", "password = {0}"):
        add("pypi-token", template, _p("py", "pi-") + "AgEIcHlwaS5vcmc" + m.chars(URLSAFE, 70))
    for template in ("hub download with {0} 401", "HF_TOKEN={0}", "token {0} has no access"):
        add("hf-token", template, _p("h", "f_") + m.chars(UPPER + LOWER, 34))
    for template in ("vault login {0}", "X-Vault-Token: {0}", "lease renewed for {0}"):
        add("vault-token", template, _p("hv", "s.") + m.chars(URLSAFE, 90))
    for template in ("openai 401 for {0}", "OPENAI_API_KEY={0}", "Authorization: Bearer {0}"):
        add("openai-key", template, _p("s", "k-proj-") + m.chars(URLSAFE, 48))
    add("openai-key", "legacy key {0}", _p("s", "k-") + m.chars(ALNUM, 48))
    for template in ("anthropic rejected {0}", "x-api-key: {0}", "ANTHROPIC_API_KEY={0}"):
        add("anthropic-key", template, _p("sk-", "ant-api03-") + m.chars(URLSAFE, 93) + "AA")

    # -- JWTs -------------------------------------------------------------------------------------------------------
    for template in ("invalid token {0}", "jwt={0}", '{{"id_token":"{0}"}}', "cookie token {0} expired"):
        header = _p("ey", "J") + m.chars(URLSAFE, 30)
        add("jwt", template, header + "." + _p("ey", "J") + m.chars(URLSAFE, 60) + "." + m.chars(URLSAFE, 43))

    # -- URLs and DSNs ---------------------------------------------------------------------------------------------
    for scheme, rest in (("postgres", "db.internal:5432/shop"), ("postgresql", "10.0.0.5/app"), ("mysql", "mysql:3306/app"),
                         ("redis", "cache:6379/0"), ("rediss", "cache.acme.io:6380"), ("amqp", "rabbit:5672/%2F"),
                         ("mongodb+srv", "cluster0.acme.mongodb.net/app?retryWrites=true"), ("https", "git.acme.io/org/repo.git"),
                         ("ftp", "files.acme.io/in"), ("smtp", "mail.acme.io:587"), ("kafka", "broker:9092")):
        add("url-password", f"connect {scheme}://svc:{{0}}@{rest} failed", m.chars(ALNUM, 12) + "!" + m.chars(ALNUM, 3))
    add("url-password", "DATABASE_URL=postgres://app:{0}@db/app", m.chars(ALNUM, 6) + "/" + m.chars(ALNUM, 6) + "+x")
    add("url-password", "redis://:{0}@cache:6379 refused", m.chars(ALNUM, 20))
    add("url-password", "clone https://oauth2:{0}@gitlab.acme.io/x.git", m.chars(URLSAFE, 20))

    # -- key/value, prose, SQL and command lines -------------------------------------------------------------------
    for template in ("login password={0} user=bob", "pwd: {0}", '{{"password":"{0}","user":"bob"}}', 'Config {{ password: "{0}" }}',
                     "db_password='{0}'", "passwd => {0}", "PGPASSWORD={0} psql -h db", "MYSQL_PWD={0}", "smtp_pass={0}"):
        add("kv-password", template, m.chars(ALNUM, 10) + "#" + m.chars(DIGITS, 2))
    for template in ("login failed for admin with password '{0}'", 'auth with password "{0}" rejected', "the password is {0}!",
                     "reset to password `{0}`"):
        add("prose-password", template, m.chars(LOWER, 6) + m.chars(DIGITS, 2))
    for template in ("ALTER ROLE app WITH PASSWORD '{0}'", "CREATE USER 'svc'@'%' IDENTIFIED BY '{0}';", "SET PASSWORD FOR svc = PASSWORD('{0}')",
                     "create user app with encrypted password '{0}'"):
        add("sql-password", template, m.chars(ALNUM, 12))
    for template in ("mysql -u root --password {0} shop", "run: deploy --password={0}", "mysqldump -uroot -p'{0}' shop", "sshpass -p {0} ssh deploy@host",
                     "curl -u admin:{0} https://ci.acme.io", "mysql -h db -uroot -p{0} shop", "redis-cli -a {0} ping", "app --token {0} --verbose",
                     'sshpass -p"{0}" scp a host:', "openssl pkcs12 -in a.p12 -passin pass:{0} -nodes", "keytool -list -storepass {0} -keystore k.jks",
                     "wget --http-password={0} https://files.acme.io/a", "ldapsearch -x -D cn=admin -w {0}", "docker login -u ci -p {0} registry.acme.io"):
        add("cli-password", template, m.chars(ALNUM, 11))
    for template in ("SECRET_KEY={0}", "ENCRYPTION_KEY={0}", "export JWT_SECRET={0}", "DJANGO_SECRET_KEY='{0}'", "SIGNING_KEY: {0}", "SESSION_SECRET={0}"):
        add("env-secret", template, m.chars(URLSAFE, 32))
    for template in ("api_key={0}", '"apiKey": "{0}"', "X-Api-Key: {0}", "client_secret={0}&grant_type=client_credentials", "access_token={0}"):
        add("api-key", template, m.chars(ALNUM, 32))

    # -- Kubernetes, headers, cookies -----------------------------------------------------------------------------
    user, pw, cert = m.chars(B64, 8), m.chars(B64, 16) + "==", m.chars(B64, 60)
    cases.append(Case("k8s-secret", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  username: {user}\n  password: {pw}\n  tls.crt: {cert}\ntype: Opaque", (user, pw, cert)))
    a, b = m.chars(B64, 20), m.chars(B64, 24)
    cases.append(Case("k8s-secret", f"applying manifest:\\ndata:\\n  DB_URL: {a}\\n  API_TOKEN: {b}\\nkind: Secret", (a, b)))
    c = m.chars(B64, 32)
    cases.append(Case("k8s-secret", f"stringData:\n  webhook: {c}\n", (c,)))
    for template in ("Authorization: Basic {0}", "authorization=Token {0}", "Proxy-Authorization: Digest {0}", '"authorization": "{0}"'):
        add("authorization-header", template, m.chars(B64, 28))
    import base64 as _b64

    for template in ('"auth":"Basic {0}"', "upstream sent Basic {0}", "creds basic {0} rejected"):
        add("basic-anywhere", template, _b64.b64encode(f"svc-{m.chars(LOWER, 4)}:{m.chars(ALNUM, 10)}".encode()).decode())
    for template in ("retrying with Bearer {0}", '"Bearer {0}"', "header bearer {0}"):
        add("bearer-anywhere", template, m.chars(URLSAFE, 40))
    for template in ("Cookie: session={0}; theme=dark", "Set-Cookie: sid={0}; Path=/; HttpOnly", "sessionid={0}", "JSESSIONID={0}", "session_token: {0}"):
        add("cookie-session", template, m.chars(ALNUM, 32))

    # -- private keys ---------------------------------------------------------------------------------------------
    for label in ("RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"):
        block = m.pem(label, 3)
        cases.append(Case("private-key", f"loaded key:\n{block}\nfrom disk", tuple(block.split("\n")[1:-1])))
    for label in ("RSA PRIVATE KEY", "PRIVATE KEY"):
        block = m.pem(label, 3, "\\n")
        cases.append(Case("private-key-escaped", '{"key":"' + block + '","id":1}', tuple(block.split("\\n")[1:-1])))
    cut = m.pem("PRIVATE KEY", 2).rsplit("\n", 1)[0]
    cases.append(Case("private-key", f"config dump: {cut}", tuple(cut.split("\n")[1:])))

    # -- source literals ------------------------------------------------------------------------------------------
    for template in ('const KEY: &[u8] = b"{0}";', 'static JWT_SECRET: &str = "{0}";', '.basic_auth("svc", Some("{0}"))',
                     '.header("X-Api-Key", "{0}")', 'let api_token = "{0}";', 'const HMAC_KEY: &str = "{0}";', '.bearer_auth("{0}")',
                     'let db_password = String::from("{0}");'):
        add("source-literal", template, m.chars(ALNUM, 20))

    # -- markup ---------------------------------------------------------------------------------------------------
    for template in ("<password>{0}</password>", '<add key="ApiKey" value="{0}"/>', "<soap:Fault><db:password>{0}</db:password>",
                     "<ClientSecret>{0}</ClientSecret>"):
        add("markup", template, m.chars(ALNUM, 14))

    # -- high entropy after a name --------------------------------------------------------------------------------
    for template in ("signing key {0} loaded", "using secret {0}", "the token is {0}", "webhook secret for github: {0}"):
        add("named-entropy", template, m.chars(B64, 32))

    # -- personal data --------------------------------------------------------------------------------------------
    for template in ("signup by {0}", "mail to <{0}> bounced", '{{"user":"{0}"}}'):
        add("email", template, f"{m.chars(LOWER, 6)}.{m.chars(LOWER, 5)}@{m.chars(LOWER, 7)}.com")
    for number in ("4111111111111111", "5500 0000 0000 0004", "378282246310005", "6011000990139424"):
        add("card", "card {0} declined", number)
    return cases


NEGATIVES: tuple[tuple[str, str], ...] = (
    ("git-remote", "git@github.com:org/repo.git"),
    ("git-remote", "fetch from git@gitlab.acme.io:platform/api.git failed"),
    ("git-remote", "remote: ssh://git@github.com/org/repo.git"),
    ("uuid", "request_id=4f1c2a9e-1b2c-4d5e-8f90-123456789abc"),
    ("uuid", "order 9b2e7c1d-0a3f-4e5b-9c8d-7e6f5a4b3c2d not found"),
    ("uuid", '{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}'),
    ("request-id", "x-request-id: req_01HV3K9Z2QW8E7R6T5Y4U3I2O1"),
    ("request-id", "request{id=01HV3K9Z2QW8E7R6T5Y4U3I2O1 method=GET}"),
    ("commit", "deployed commit 3f9a1c2b7d4e8f6a0b5c9d2e1f7a3b8c4d6e0f1a"),
    ("commit", "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("commit", "image shop@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"),
    ("error-name", "token: ExpiredSignature"),
    ("error-name", "jwt decode failed: InvalidSignature"),
    ("error-name", "auth error: Error(InvalidToken)"),
    ("error-name", "password: IncorrectPassword"),
    ("secret-name", "missing environment variable SECRET_KEY"),
    ("secret-name", "JWT_SECRET is not set, refusing to start"),
    ("secret-name", "column password_hash is null"),
    ("secret-name", "the api_key field is required"),
    ("secret-name", "rotate the signing key every 90 days"),
    ("secret-name", "token refresh scheduled"),
    ("rust-path", "auth::verify_token: token expired"),
    ("rust-path", "password::Config { min_length: 12 }"),
    ("rust-path", "ERROR shop::auth::token: refresh failed for user 42"),
    ("rust-path", "at src/auth/password.rs:42:7"),
    ("rust-path", "thread 'main' panicked at 'secret::Store not initialised', src/main.rs:10:5"),
    ("rust-path", "use crate::session::SessionStore;"),
    ("target", '{"target":"shop::auth::token","fields":{"message":"validated"}}'),
    ("target", "target=shop::api::password message=rule check"),
    ("yaml", "secret:\n  name: db-credentials\n  key: password"),
    ("yaml", "auth:\n  enabled: true"),
    ("yaml", "token:\n  ttl: 3600"),
    ("yaml", "data:\n  LOG_LEVEL: info\n  FEATURES: cart"),
    ("env", "PWD=/srv/app"),
    ("env", "OLDPWD=/home/deploy"),
    ("env", "pass=128 fail=0 skip=3"),
    ("env", "SORT_KEY=name"),
    ("env", "PRIMARY_KEY=id"),
    ("bearer-prose", "token_type=Bearer expires_in=3600"),
    ("bearer-prose", '{"token_type":"Bearer","expires_in":3600}'),
    ("bearer-prose", "expected a Bearer token in the header"),
    ("bearer-prose", 'WWW-Authenticate: Bearer realm="api"'),
    ("bearer-prose", "Basic auth is disabled"),
    ("harmless", "token=None has_password=true password=null"),
    ("harmless", "secret=*** api_key=[redacted]"),
    ("harmless", "Config { password: None, token: None }"),
    ("counts", "tokens_in=900 tokens_out=150 max_tokens=512"),
    ("counts", "bypass=yes session started"),
    ("counts", "key not found: user:42"),
    ("counts", "cache_key=user:42:profile"),
    ("urls", "GET https://api.acme.io:8443/v1/orders?page=2 200"),
    ("urls", "postgres://db.internal:5432/app"),
    ("urls", "http://localhost:8080/health"),
    ("urls", "redirect to https://acme.io/login?next=/cart"),
    ("urls", "https://host:8080/path/to@file"),
    ("cli", "ssh -p 2222 deploy@10.0.0.4"),
    ("cli", "mkdir -p /srv/app/logs"),
    ("cli", "docker run -u 1000:1000 -p 8080:80 shop"),
    ("cli", "psql -h db -p 5432 -U app"),
    ("cli", "cargo test --release -p shop-api"),
    ("cli", "psql --no-password -h db -U app"),
    ("markup", "<key>orders</key><value>42</value>"),
    ("markup", '<add key="LogLevel" value="Debug"/>'),
    ("markup", "<token>${API_TOKEN}</token>"),
    ("cli", "deploy --token $DEPLOY_TOKEN --verbose"),
    ("ips", "connect to 10.0.3.7:5432 refused"),
    ("ips", "listening on 127.0.0.1:8080 and [::1]:8080"),
    ("ips", "peer 192.168.1.20 reset"),
    ("ips", "pod 172.16.4.2 unhealthy"),
    ("times", "2026-03-02T10:15:04.000Z took 1.25s (p99 320ms)"),
    ("times", "ts=1700000000000000000 elapsed=00:00:05"),
    ("versions", "rustc 1.78.0 (9b00956e5 2024-04-29)"),
    ("versions", "openssl 3.0.13 30 Jan 2024"),
    ("paths", "/var/lib/shop/uploads/2026/03/9b2e7c1d.png"),
    ("paths", "src/handlers/password_reset.rs:120:9"),
    ("words", "password reset requested for user 42"),
    ("words", "with password authentication disabled"),
    ("words", "invalid password for user bob"),
    ("words", "Signature verification failed"),
    ("words", "The secret to good logs is structure."),
    ("words", "token: expired"),
    ("ids", "order 4111111111111112 failed"),
    ("ids", "invoice 1234567812345670"),
    ("ids", "discord <@&412345678901234561> role"),
    ("ids", "customer_id=8841023 cart_id=4411"),
    ("base64", "payload=eyJ1c2VyIjoxfQ=="),
    ("base64", "etag W/\"5e1a-2b8f\""),
    ("hex", "trace 0af7651916cd43dd8448eb211c80319c"),
    ("hex", "md5 d41d8cd98f00b204e9800998ecf8427e"),
    ("code", "fn verify_password(input: &str, hash: &str) -> bool {"),
    ("code", "let token = parse_token(&header)?;"),
    ("code", 'const CACHE_KEY: &str = "orders";'),
    ("code", "if session.is_expired() { return Err(AuthError::SessionExpired); }"),
    ("code", 'let password = env::var("DB_PASSWORD")?;'),
    ("reference", 'api_key: "${API_KEY}"'),
    ("reference", "password=${DB_PASSWORD} user=app"),
    ("reference", 'password: "{{ .Values.db.password }}"'),
    ("reference", "token=$(cat /run/secrets/token)"),
    ("harmless", '"Authorization":"[REDACTED]"'),
    ("harmless", "Authorization: none"),
    ("harmless", "password=****** user=bob"),
    ("words", "cookie: session expired"),
)


def cases() -> list[Case]:
    """Every planted case, in its plain form."""
    return _build()


def positives() -> Iterator[Case]:
    """Every case as written, and again inside a JSON-encoded ``tracing`` line (its secrets in an escaped string)."""
    for case in cases():
        yield case
        line = json.dumps({"timestamp": "2026-03-02T10:15:04Z", "level": "ERROR", "fields": {"message": case.text}, "target": "shop::api"})
        yield Case(case.cls, line, case.secrets)


@dataclass(frozen=True)
class Score:
    """Recall per class (planted values gone from the output) and which look-alikes the redactor altered."""

    planted: dict[str, int]
    caught: dict[str, int]
    missed: tuple[tuple[str, str, str], ...]  # (class, secret, output)
    altered: tuple[tuple[str, str, str], ...]  # (class, text, output)
    negatives: int

    @property
    def recall(self) -> float:
        return sum(self.caught.values()) / sum(self.planted.values())

    @property
    def false_positive_rate(self) -> float:
        return len(self.altered) / self.negatives


def score(redact: Callable[[str], str]) -> Score:
    """Run ``redact`` (a fresh redactor per text) over the whole corpus."""
    planted: dict[str, int] = {}
    caught: dict[str, int] = {}
    missed: list[tuple[str, str, str]] = []
    for case in positives():
        out = redact(case.text)
        for secret in case.secrets:
            planted[case.cls] = planted.get(case.cls, 0) + 1
            if secret in out:
                missed.append((case.cls, secret, out))
            else:
                caught[case.cls] = caught.get(case.cls, 0) + 1
    altered = [(cls, text, out) for cls, text in NEGATIVES if (out := redact(text)) != text]
    return Score(planted, caught, tuple(missed), tuple(altered), len(NEGATIVES))
