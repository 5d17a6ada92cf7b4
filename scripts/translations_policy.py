# ruff: noqa: E501  (a table of translated sentences)
"""Write portal/locale/<lang>/LC_MESSAGES/messages.po from messages.pot and the translations
below (issue 16). Run after `pybabel extract` (see portal/babel.cfg); a msgid missing here is
left empty, and tests/portal/test_i18n.py fails until it is translated."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALE = Path(__file__).resolve().parents[1] / "portal" / "locale"

T: dict[str, dict[str, object]] = {
    "Skip to content": {
        "fr": "Aller au contenu",
        "pt_BR": "Ir para o conteúdo",
        "ru": "Перейти к содержимому",
        "es": "Ir al contenido",
    },
    "Main": {"fr": "Principal", "pt_BR": "Principal", "ru": "Главное меню", "es": "Principal"},
    "Recordings": {
        "fr": "Enregistrements",
        "pt_BR": "Gravações",
        "ru": "Записи",
        "es": "Grabaciones",
    },
    "Dashboard": {"fr": "Tableau de bord", "pt_BR": "Painel", "ru": "Панель", "es": "Panel"},
    "Reports": {"fr": "Rapports", "pt_BR": "Relatórios", "ru": "Отчёты", "es": "Informes"},
    "People": {"fr": "Personnes", "pt_BR": "Pessoas", "ru": "Люди", "es": "Personas"},
    "Account": {"fr": "Compte", "pt_BR": "Conta", "ru": "Учётная запись", "es": "Cuenta"},
    "Connectors": {
        "fr": "Connecteurs",
        "pt_BR": "Conectores",
        "ru": "Коннекторы",
        "es": "Conectores",
    },
    "Rules": {"fr": "Règles", "pt_BR": "Regras", "ru": "Правила", "es": "Reglas"},
    "Settings": {
        "fr": "Paramètres",
        "pt_BR": "Configurações",
        "ru": "Настройки",
        "es": "Configuración",
    },
    "Audit trail": {
        "fr": "Journal d'audit",
        "pt_BR": "Trilha de auditoria",
        "ru": "Журнал аудита",
        "es": "Registro de auditoría",
    },
    "My account": {
        "fr": "Mon compte",
        "pt_BR": "Minha conta",
        "ru": "Мой профиль",
        "es": "Mi cuenta",
    },
    "Log out": {"fr": "Se déconnecter", "pt_BR": "Sair", "ru": "Выйти", "es": "Cerrar sesión"},
    "Language": {"fr": "Langue", "pt_BR": "Idioma", "ru": "Язык", "es": "Idioma"},
    "Choose a new password before you continue.": {
        "fr": "Choisissez un nouveau mot de passe avant de continuer.",
        "pt_BR": "Escolha uma nova senha antes de continuar.",
        "ru": "Задайте новый пароль, чтобы продолжить.",
        "es": "Elija una contraseña nueva antes de continuar.",
    },
    "E-mail": {"fr": "E-mail", "pt_BR": "E-mail", "ru": "Эл. почта", "es": "Correo electrónico"},
    "Role": {"fr": "Rôle", "pt_BR": "Função", "ru": "Роль", "es": "Rol"},
    "Groups": {"fr": "Groupes", "pt_BR": "Grupos", "ru": "Группы", "es": "Grupos"},
    "none": {"fr": "aucun", "pt_BR": "nenhum", "ru": "нет", "es": "ninguno"},
    "Change password": {
        "fr": "Changer le mot de passe",
        "pt_BR": "Alterar senha",
        "ru": "Сменить пароль",
        "es": "Cambiar contraseña",
    },
    "Current password": {
        "fr": "Mot de passe actuel",
        "pt_BR": "Senha atual",
        "ru": "Текущий пароль",
        "es": "Contraseña actual",
    },
    "New password (at least 12 characters)": {
        "fr": "Nouveau mot de passe (12 caractères au moins)",
        "pt_BR": "Nova senha (pelo menos 12 caracteres)",
        "ru": "Новый пароль (не менее 12 символов)",
        "es": "Contraseña nueva (12 caracteres como mínimo)",
    },
    "New password again": {
        "fr": "Nouveau mot de passe, encore",
        "pt_BR": "Repita a nova senha",
        "ru": "Новый пароль ещё раз",
        "es": "Repita la contraseña nueva",
    },
    "Recovery codes": {
        "fr": "Codes de récupération",
        "pt_BR": "Códigos de recuperação",
        "ru": "Коды восстановления",
        "es": "Códigos de recuperación",
    },
    "%(num)d unused recovery code left.": {
        "fr": (
            "Il reste %(num)d code de récupération inutilisé.",
            "Il reste %(num)d codes de récupération inutilisés.",
        ),
        "pt_BR": (
            "Resta %(num)d código de recuperação não usado.",
            "Restam %(num)d códigos de recuperação não usados.",
        ),
        "ru": (
            "Остался %(num)d неиспользованный код восстановления.",
            "Осталось %(num)d неиспользованных кода восстановления.",
            "Осталось %(num)d неиспользованных кодов восстановления.",
        ),
        "es": (
            "Queda %(num)d código de recuperación sin usar.",
            "Quedan %(num)d códigos de recuperación sin usar.",
        ),
    },
    "New codes replace all the old ones.": {
        "fr": "Les nouveaux codes remplacent tous les anciens.",
        "pt_BR": "Os novos códigos substituem todos os antigos.",
        "ru": "Новые коды заменяют все старые.",
        "es": "Los códigos nuevos sustituyen a todos los anteriores.",
    },
    "New recovery codes": {
        "fr": "Nouveaux codes de récupération",
        "pt_BR": "Novos códigos de recuperação",
        "ru": "Новые коды восстановления",
        "es": "Códigos de recuperación nuevos",
    },
    "Portal language": {
        "fr": "Langue du portail",
        "pt_BR": "Idioma do portal",
        "ru": "Язык портала",
        "es": "Idioma del portal",
    },
    "Browser default": {
        "fr": "Celle du navigateur",
        "pt_BR": "Padrão do navegador",
        "ru": "Как в браузере",
        "es": "El del navegador",
    },
    "Save changes": {
        "fr": "Enregistrer",
        "pt_BR": "Salvar alterações",
        "ru": "Сохранить",
        "es": "Guardar cambios",
    },
    "Numbers": {"fr": "Numéros", "pt_BR": "Números", "ru": "Номера", "es": "Números"},
    "Status": {"fr": "État", "pt_BR": "Situação", "ru": "Состояние", "es": "Estado"},
    "disabled": {"fr": "désactivé", "pt_BR": "desativado", "ru": "отключён", "es": "desactivado"},
    "active": {"fr": "actif", "pt_BR": "ativo", "ru": "активен", "es": "activo"},
    "2FA not enrolled": {
        "fr": "2FA non configurée",
        "pt_BR": "2FA não configurada",
        "ru": "2FA не настроена",
        "es": "2FA sin configurar",
    },
    "must change password": {
        "fr": "doit changer de mot de passe",
        "pt_BR": "deve alterar a senha",
        "ru": "должен сменить пароль",
        "es": "debe cambiar la contraseña",
    },
    "Nobody you manage yet.": {
        "fr": "Personne à gérer pour l'instant.",
        "pt_BR": "Ninguém sob sua gestão ainda.",
        "ru": "Пока некем управлять.",
        "es": "Todavía no gestiona a nadie.",
    },
    "Add a person": {
        "fr": "Ajouter une personne",
        "pt_BR": "Adicionar pessoa",
        "ru": "Добавить человека",
        "es": "Añadir una persona",
    },
    "in %(group)s": {
        "fr": "dans %(group)s",
        "pt_BR": "em %(group)s",
        "ru": "в %(group)s",
        "es": "en %(group)s",
    },
    "No groups yet (configure them under Settings).": {
        "fr": "Aucun groupe pour l'instant (à configurer dans Paramètres).",
        "pt_BR": "Nenhum grupo ainda (configure em Configurações).",
        "ru": "Групп пока нет (настройте их в разделе «Настройки»).",
        "es": "Aún no hay grupos (configúrelos en Configuración).",
    },
    "Own numbers or extensions (one per line)": {
        "fr": "Numéros ou postes propres (un par ligne)",
        "pt_BR": "Números ou ramais próprios (um por linha)",
        "ru": "Свои номера или добавочные (по одному в строке)",
        "es": "Números o extensiones propios (uno por línea)",
    },
    "Create": {"fr": "Créer", "pt_BR": "Criar", "ru": "Создать", "es": "Crear"},
    "The initial password and the authenticator QR code are shown once, on the next page.": {
        "fr": "Le mot de passe initial et le code QR de l'authentificateur sont affichés une seule fois, sur la page suivante.",
        "pt_BR": "A senha inicial e o código QR do autenticador são exibidos uma única vez, na próxima página.",
        "ru": "Начальный пароль и QR-код для приложения-аутентификатора показываются один раз, на следующей странице.",
        "es": "La contraseña inicial y el código QR del autenticador se muestran una sola vez, en la página siguiente.",
    },
    "%(num)d member": {
        "fr": ("%(num)d membre", "%(num)d membres"),
        "pt_BR": ("%(num)d membro", "%(num)d membros"),
        "ru": ("%(num)d участник", "%(num)d участника", "%(num)d участников"),
        "es": ("%(num)d miembro", "%(num)d miembros"),
    },
    "None.": {"fr": "Aucun.", "pt_BR": "Nenhum.", "ru": "Нет.", "es": "Ninguno."},
    "Edit groups, devices and the recording policy": {
        "fr": "Modifier les groupes, les appareils et la politique d'enregistrement",
        "pt_BR": "Editar grupos, dispositivos e a política de gravação",
        "ru": "Изменить группы, устройства и правила записи",
        "es": "Editar grupos, dispositivos y la política de grabación",
    },
    "New password (shown once; must be changed at the next login):": {
        "fr": "Nouveau mot de passe (affiché une fois ; à changer à la prochaine connexion) :",
        "pt_BR": "Nova senha (exibida uma vez; deve ser alterada no próximo acesso):",
        "ru": "Новый пароль (показывается один раз; его нужно сменить при следующем входе):",
        "es": "Contraseña nueva (se muestra una vez; debe cambiarse en el próximo inicio de sesión):",
    },
    "Disabling ends this person's sessions and API tokens at once. Continue?": {
        "fr": "La désactivation met fin immédiatement aux sessions et aux jetons d'API de cette personne. Continuer ?",
        "pt_BR": "Desativar encerra na hora as sessões e os tokens de API desta pessoa. Continuar?",
        "ru": "Отключение сразу завершает сеансы и API-токены этого человека. Продолжить?",
        "es": "Desactivar termina al instante las sesiones y los tokens de API de esta persona. ¿Continuar?",
    },
    "Disabled": {"fr": "Désactivé", "pt_BR": "Desativado", "ru": "Отключён", "es": "Desactivado"},
    "Must change password at next login": {
        "fr": "Doit changer de mot de passe à la prochaine connexion",
        "pt_BR": "Deve alterar a senha no próximo acesso",
        "ru": "Сменить пароль при следующем входе",
        "es": "Debe cambiar la contraseña en el próximo inicio de sesión",
    },
    "Devices": {
        "fr": "Appareils",
        "pt_BR": "Dispositivos",
        "ru": "Устройства",
        "es": "Dispositivos",
    },
    "Security": {"fr": "Sécurité", "pt_BR": "Segurança", "ru": "Безопасность", "es": "Seguridad"},
    "Two-factor authentication:": {
        "fr": "Authentification à deux facteurs :",
        "pt_BR": "Autenticação de dois fatores:",
        "ru": "Двухфакторная аутентификация:",
        "es": "Autenticación de dos factores:",
    },
    "enrolled": {
        "fr": "configurée",
        "pt_BR": "configurada",
        "ru": "настроена",
        "es": "configurada",
    },
    "not enrolled yet": {
        "fr": "pas encore configurée",
        "pt_BR": "ainda não configurada",
        "ru": "ещё не настроена",
        "es": "aún sin configurar",
    },
    "Last login:": {
        "fr": "Dernière connexion :",
        "pt_BR": "Último acesso:",
        "ru": "Последний вход:",
        "es": "Último inicio de sesión:",
    },
    "never": {"fr": "jamais", "pt_BR": "nunca", "ru": "никогда", "es": "nunca"},
    "Created:": {"fr": "Créé :", "pt_BR": "Criado:", "ru": "Создан:", "es": "Creado:"},
    "Reset two-factor authentication": {
        "fr": "Réinitialiser l'authentification à deux facteurs",
        "pt_BR": "Redefinir a autenticação de dois fatores",
        "ru": "Сбросить двухфакторную аутентификацию",
        "es": "Restablecer la autenticación de dos factores",
    },
    "Reset password": {
        "fr": "Réinitialiser le mot de passe",
        "pt_BR": "Redefinir senha",
        "ru": "Сбросить пароль",
        "es": "Restablecer contraseña",
    },
    "New person": {
        "fr": "Nouvelle personne",
        "pt_BR": "Nova pessoa",
        "ru": "Новый человек",
        "es": "Persona nueva",
    },
    "%(email)s created": {
        "fr": "%(email)s créé",
        "pt_BR": "%(email)s criado",
        "ru": "%(email)s создан",
        "es": "%(email)s creado",
    },
    "Shown only now. Hand these over a channel you trust; the password must be changed at the first login.": {
        "fr": "Affiché maintenant seulement. Transmettez-les par un canal de confiance ; le mot de passe doit être changé à la première connexion.",
        "pt_BR": "Exibido só agora. Entregue por um canal de confiança; a senha deve ser alterada no primeiro acesso.",
        "ru": "Показывается только сейчас. Передайте по надёжному каналу; пароль нужно сменить при первом входе.",
        "es": "Solo se muestra ahora. Entréguelos por un canal de confianza; la contraseña debe cambiarse en el primer inicio de sesión.",
    },
    "Initial password": {
        "fr": "Mot de passe initial",
        "pt_BR": "Senha inicial",
        "ru": "Начальный пароль",
        "es": "Contraseña inicial",
    },
    "Authenticator": {
        "fr": "Authentificateur",
        "pt_BR": "Autenticador",
        "ru": "Аутентификатор",
        "es": "Autenticador",
    },
    "QR code for the authenticator app": {
        "fr": "Code QR pour l'application d'authentification",
        "pt_BR": "Código QR para o aplicativo autenticador",
        "ru": "QR-код для приложения-аутентификатора",
        "es": "Código QR para la aplicación de autenticación",
    },
    "Continue": {"fr": "Continuer", "pt_BR": "Continuar", "ru": "Продолжить", "es": "Continuar"},
    # single sign-on (issue 17)
    "or": {"fr": "ou", "pt_BR": "ou", "ru": "или", "es": "o"},
    "Sign in with single sign-on": {
        "fr": "Se connecter avec l'authentification unique",
        "pt_BR": "Entrar com login único (SSO)",
        "ru": "Войти через единый вход (SSO)",
        "es": "Iniciar sesión con inicio de sesión único",
    },
    "This account signs in with single sign-on only. Use the single sign-on button instead of a password.": {
        "fr": "Ce compte se connecte uniquement par authentification unique. Utilisez le bouton d'authentification unique au lieu d'un mot de passe.",
        "pt_BR": "Esta conta entra somente com login único (SSO). Use o botão de login único em vez de uma senha.",
        "ru": "Эта учётная запись входит только через единый вход (SSO). Используйте кнопку единого входа вместо пароля.",
        "es": "Esta cuenta inicia sesión solo con inicio de sesión único. Use el botón de inicio de sesión único en lugar de una contraseña.",
    },
    "Single sign-on did not complete:": {
        "fr": "L'authentification unique n'a pas abouti :",
        "pt_BR": "O login único não foi concluído:",
        "ru": "Единый вход не завершён:",
        "es": "El inicio de sesión único no se completó:",
    },
    "SSO only (signs in through single sign-on; the password form refuses this account)": {
        "fr": "SSO uniquement (connexion par authentification unique ; le formulaire de mot de passe refuse ce compte)",
        "pt_BR": "Somente SSO (entra pelo login único; o formulário de senha recusa esta conta)",
        "ru": "Только SSO (вход через единый вход; форма с паролем отклоняет эту учётную запись)",
        "es": "Solo SSO (inicia sesión con inicio de sesión único; el formulario de contraseña rechaza esta cuenta)",
    },
    "SSO only": {
        "fr": "SSO uniquement",
        "pt_BR": "Somente SSO",
        "ru": "Только SSO",
        "es": "Solo SSO",
    },
    "This account signs in with single sign-on only: its password and recovery codes are not used.": {
        "fr": "Ce compte se connecte uniquement par authentification unique : son mot de passe et ses codes de récupération ne servent pas.",
        "pt_BR": "Esta conta entra somente com login único (SSO): a senha e os códigos de recuperação não são usados.",
        "ru": "Эта учётная запись входит только через единый вход (SSO): её пароль и коды восстановления не используются.",
        "es": "Esta cuenta inicia sesión solo con inicio de sesión único: su contraseña y sus códigos de recuperación no se usan.",
    },
}

LANGS = ("fr", "pt_BR", "ru", "es")


def main() -> None:
    for lang in LANGS:
        with (LOCALE / "messages.pot").open("rb") as f:
            cat = read_po(f, locale=lang)
        for msg in cat:
            if not msg.id:
                continue
            key = msg.id[0] if isinstance(msg.id, tuple) else msg.id
            t = T.get(key, {}).get(lang)
            if isinstance(t, tuple) and len(t) < cat.num_plurals:
                # CLDR gives French and Spanish a third form ("many", for millions): the plural
                t = t + (t[-1],) * (cat.num_plurals - len(t))
            if t is not None:
                msg.string = t
        out = LOCALE / lang / "LC_MESSAGES"
        out.mkdir(parents=True, exist_ok=True)
        with (out / "messages.po").open("wb") as f:
            write_po(f, cat, omit_header=False, no_location=True, width=100)


if __name__ == "__main__":
    main()
