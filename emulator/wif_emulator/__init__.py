"""wif_emulator: an offline, stateful fake of the Google Cloud and AWS endpoints that the
keyless.wif token flow touches (IAM, CRM, Service Usage, STS, IAM Credentials, Vertex AI,
AWS STS and instance metadata). See docs/emulator.md."""

__version__ = "0.1.0"
