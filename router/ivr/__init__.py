"""IVR menus on Asterisk: the dialplan generated from the rule file's menus, their prompts' sound files."""
