"""The webhook endpoint's admin form: the secret is write-only, the URL checked for SSRF."""

from django import forms

from analytics.integrations.models import WEBHOOK_TOPICS, WebhookEndpoint
from analytics.integrations.webhooks import UnsafeURLError, check_url
from workshop.crypto import encrypt_secret

MIN_SECRET_LENGTH = 24
SECRET_HELP = (
    "Shared with the receiver, which checks the Workshop-Signature header with it "
    "(docs/webhooks.md). At least 24 characters; make one with "
    '<code>python -c "import secrets; print(secrets.token_urlsafe(32))"</code>. '
    "Stored encrypted and never shown again; leave empty to keep the current one."
)


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    topics = forms.MultipleChoiceField(
        choices=[(topic.value, topic.value) for topic in WEBHOOK_TOPICS],
        widget=forms.CheckboxSelectMultiple,
        label="Event types",
    )
    secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=SECRET_HELP,
        min_length=MIN_SECRET_LENGTH,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "topics", "secret", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_url(url)
        except UnsafeURLError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("secret") and not self.instance.secret_ciphertext:
            self.add_error("secret", "A new endpoint needs a secret.")
        return cleaned

    def save(self, commit: bool = True) -> WebhookEndpoint:
        if self.cleaned_data.get("secret"):
            self.instance.secret_ciphertext = encrypt_secret(self.cleaned_data["secret"])
        return super().save(commit=commit)
