"""The request bodies the real workshop frontend sends, shaped exactly as it builds them.

Written from the frontend's own code (geverist/twilio-voice-ai-workshop-vercel: the student's
page public/index.html, the settings panel public/admin-panel-dynamic.html): same keys, same
types, same placeholders. Values are made up; no secret is real.
"""

from typing import Any

# The frontend's 0-based step indices and the titles it sends with them (trackStudentProgress).
CLIENT_STEP_TITLES = (
    "Connect Accounts",
    "Choose Use Case",
    "Provision Services",
    "Basic TwiML",
    "WebSocket Handler",
    "ConversationRelay",
    "Custom AI Prompt",
    "Tools & Functions",
    "Final Deployment",
)
# Its `steps[i].title`, which bug reports and session logs carry.
PAGE_STEP_TITLES = (
    "Setup",
    "Use Case",
    "Services",
    "Basic TwiML",
    "WebSocket Handler",
    "ConversationRelay",
    "Prompt Engineering",
    "Tools & Functions",
    "Deploy Your AI Application",
)
FAKE_OPENAI_KEY = "sk-proj-fake-key-for-tests-0000000000"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
RAILWAY_WS = "wss://workshop-websocket-server-production.up.railway.app/ws/"

INITIAL_SYSTEM_PROMPT = "You are a helpful assistant.\n\n# Voice Conversation Guidelines"
FALLBACK_SYSTEM_PROMPT = (
    "You are a helpful voice assistant. Keep responses brief and conversational since they "
    "will be spoken aloud."
)


def generate_session(*, email: str = "", name: str = "") -> dict[str, Any]:
    """POST /api/generate-session: `studentEmail || undefined` drops empty values."""
    body = {}
    if email:
        body["studentEmail"] = email
    if name:
        body["studentName"] = name
    return body


def student_progress(
    token: str,
    index: int,
    *,
    completed: Any = False,
    email: str = "",
    name: str = "",
    demo_mode: bool = False,
) -> dict[str, Any]:
    """POST /api/student-progress (trackStudentProgress), sent on every state change:
    0-based stepNumber, its own title, `completed` possibly a string, timeSpent always 0."""
    return {
        "sessionToken": token,
        "studentEmail": email or None,
        "studentName": name or email or "Anonymous Student",
        "stepNumber": index,
        "stepName": CLIENT_STEP_TITLES[index],
        "completed": completed,
        "timeSpent": 0,
        "codeSubmitted": None,
        "demoMode": demo_mode,
    }


# --- student-config-save: the five body shapes -------------------------------------------
def config_save_initial(token: str, *, name: str = "", api_key: str | None = None) -> dict:
    """After both accounts connect (step 1): empty voice settings."""
    return {
        "sessionToken": token,
        "studentName": name or "Student",
        "openaiApiKey": api_key or None,
        "systemPrompt": INITIAL_SYSTEM_PROMPT,
        "tools": [],
        "voiceSettings": {},
    }


def config_save_codespace(token: str, *, name: str = "", api_key: str | None = None) -> dict:
    """When the WebSocket server is set up: a provider and a possibly null voice."""
    return {
        "sessionToken": token,
        "studentName": name or "Student",
        "openaiApiKey": api_key or None,
        "systemPrompt": "You are a dental receptionist.\n\n# Voice Conversation Guidelines",
        "tools": [],
        "voiceSettings": {"provider": "google", "voice": None},
    }


def config_save_prompt(
    token: str, *, prompt: str, name: str = "", api_key: str | None = None
) -> dict:
    """Steps 7 and 8 (and the prompt step's own save): the prompt, the TTS choice."""
    return {
        "sessionToken": token,
        "studentName": name or "Student",
        "openaiApiKey": api_key,
        "systemPrompt": prompt or FALLBACK_SYSTEM_PROMPT,
        "tools": [],
        "voiceSettings": {"provider": "elevenlabs", "voice": "UgBBYS2sOqTuMpoF3BR0"},
    }


def config_save_all(token: str, *, name: str = "", api_key: str | None = None) -> dict:
    """saveAllConfigToDatabase, before the settings panel opens: every field, '' when unset."""
    return {
        "sessionToken": token,
        "studentName": name or "Workshop Student",
        "openaiApiKey": api_key,
        "systemPrompt": "",
        "tools": [],
        "voiceSettings": {
            "provider": "elevenlabs",
            "voice": "UgBBYS2sOqTuMpoF3BR0",
            "language": "en-US",
        },
        "useCaseDescription": "Dental office receptionist booking cleanings",
        "callDirection": "inbound",
        "ivrGreeting": "",
        "ttsProvider": "elevenlabs",
        "selectedVoice": "UgBBYS2sOqTuMpoF3BR0",
        "selectedPhoneNumber": "+14155550123",
        "websocketUrl": RAILWAY_WS + token,
        "codespaceUrl": RAILWAY_WS + token,
        "githubRepoUrl": "",
        "railwayUrl": "",
    }


def config_save_sync(token: str, *, email: str = "", api_key: str | None = None) -> dict:
    """syncToDatabase's state dump: identity, every state flag, the configuration."""
    return {
        "sessionToken": token,
        "studentEmail": email or None,
        "studentName": None,
        "demoMode": False,
        "currentStep": 5,
        "twilioConnected": True,
        "openaiConnected": True,
        "callDirectionChosen": True,
        "callDirection": "inbound",
        "useCaseDescription": "Dental office receptionist booking cleanings",
        "selectedPhoneNumber": "+14155550123",
        "servicesReady": True,
        "step4CodeValidated": True,
        "step4Committed": True,
        "step4Deployed": True,
        "step5CodeValidated": True,
        "step5Committed": True,
        "step5Deployed": True,
        "step6CodeValidated": False,
        "step6Committed": False,
        "step6Deployed": False,
        "systemPromptSaved": False,
        "step7Committed": False,
        "step7Deployed": False,
        "toolsConfigured": False,
        "step8CodeValidated": False,
        "step8Committed": False,
        "step8Deployed": False,
        "projectDeployed": False,
        "openaiApiKey": api_key,
        "systemPrompt": "",
        "tools": [],
        "selectedVoice": None,
        "ttsProvider": "elevenlabs",
        "ciServiceSid": None,
    }


# --- the settings panel: PUT /api/student-config-update -----------------------------------
def config_update(token: str, **fields: Any) -> dict[str, Any]:
    """One of the panel's updates: the token and the fields it changes."""
    return {"sessionToken": token, **fields}


# --- report-bug, submit-feedback, session-log -----------------------------------------------
def report_bug(token: str | None, index: int, *, email: str = "", name: str = "") -> dict:
    return {
        "description": "The test call hangs up after the greeting <script>alert(1)</script>",
        "step": f"Step {index + 1}: {PAGE_STEP_TITLES[index]}",
        "errorMessage": "WebSocket closed: 1006",
        "expectedBehavior": None,
        "actualBehavior": "Silence, then the call ends",
        "userName": name or None,
        "studentEmail": email or None,
        "sessionToken": token,
        "browserInfo": USER_AGENT,
        "timestamp": "2026-11-29T10:15:00.000Z",
        "pageUrl": "https://workshop.example/?email=ada%40example.com&name=Ada",
        "callDirection": "inbound",
        "deploymentStatus": {
            "twilioConnected": True,
            "openaiConnected": True,
            "servicesReady": True,
            "functionsDeployed": True,
            "basicCallTested": False,
            "websocketBuilt": True,
            "conversationRelayCreated": False,
        },
    }


def submit_feedback(index: int, *, rating: int, name: str = "") -> dict[str, Any]:
    """No session token: the frontend sends none. context.currentStep is 1-based."""
    return {
        "name": name,
        "message": "Great workshop, the ConversationRelay step was hard.",
        "rating": rating,
        "completedSteps": index,
        "timestamp": "2026-11-29T11:40:00.000Z",
        "context": {
            "currentStep": index + 1,
            "studentDemoMode": False,
            "callDirection": "inbound",
            "step4Committed": True,
            "step5Committed": True,
            "step6Committed": True,
            "step7Committed": True,
            "step8Committed": False,
        },
    }


def session_log(token: str, index: int, event_type: str, *, email: str = "", **data: Any) -> dict:
    """logSessionEvent: the frontend adds its step (0-based), its title, the clock."""
    return {
        "sessionToken": token,
        "studentEmail": email or None,
        "eventType": event_type,
        "eventData": {
            **data,
            "currentStep": index,
            "stepName": PAGE_STEP_TITLES[index],
            "demoMode": False,
            "userAgent": USER_AGENT,
            "timestamp": "2026-11-29T10:00:00.000Z",
        },
    }
