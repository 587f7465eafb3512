!function(){"use strict";var e,t,n,s,r,a,o,l,i,u,c,d,p,m,$={},h=[],_=/acit|ex(?:s|g|n|p|$)|rph|grid|ows|mnc|ntw|ine[ch]|zoo|^ord|itera/i,f=Array.isArray;function g(e,t){for(var n in t)e[n]=t[n];return e}function v(e){e&&e.parentNode&&e.parentNode.removeChild(e)}function b(t,n,s){var r,a,o,l={};for(o in n)"key"==o?r=n[o]:"ref"==o?a=n[o]:l[o]=n[o];if(arguments.length>2&&(l.children=arguments.length>3?e.call(arguments,2):s),"function"==typeof t&&null!=t.defaultProps)for(o in t.defaultProps)void 0===l[o]&&(l[o]=t.defaultProps[o]);return y(t,l,r,a,null)}function y(e,s,r,a,o){var l={type:e,props:s,key:r,ref:a,__k:null,__:null,__b:0,__e:null,__c:null,constructor:void 0,__v:null==o?++n:o,__i:-1,__u:0};return null==o&&null!=t.vnode&&t.vnode(l),l}function w(e){return e.children}function k(e,t){this.props=e,this.context=t}function x(e,t){if(null==t)return e.__?x(e.__,e.__i+1):null;for(var n;t<e.__k.length;t++)if(null!=(n=e.__k[t])&&null!=n.__e)return n.__e;return"function"==typeof e.type?x(e):null}function M(e){if(e.__P&&e.__d){var n=e.__v,s=n.__e,r=[],a=[],o=g({},n);o.__v=n.__v+1,t.vnode&&t.vnode(o),L(e.__P,o,n,e.__n,e.__P.namespaceURI,32&n.__u?[s]:null,r,null==s?x(n):s,!!(32&n.__u),a),o.__v=n.__v,o.__.__k[o.__i]=o,j(r,o,a),n.__e=n.__=null,o.__e!=s&&T(o)}}function T(e){if(null!=(e=e.__)&&null!=e.__c)return e.__e=e.__c.base=null,e.__k.some(function(t){if(null!=t&&null!=t.__e)return e.__e=e.__c.base=t.__e}),T(e)}function S(e){(!e.__d&&(e.__d=!0)&&s.push(e)&&!C.__r++||r!=t.debounceRendering)&&((r=t.debounceRendering)||a)(C)}function C(){try{for(var e,t=1;s.length;)s.length>t&&s.sort(o),e=s.shift(),t=s.length,M(e)}finally{s.length=C.__r=0}}function N(e,t,n,s,r,a,o,l,i,u,c){var d,p,m,_,f,g,v=s&&s.__k||h,b=t.length;for(i=q(n,t,v,i,b),d=0;d<b;d++)null!=(m=n.__k[d])&&(p=-1!=m.__i&&v[m.__i]||$,m.__i=d,g=L(e,m,p,r,a,o,l,i,u,c),_=m.__e,m.ref&&p.ref!=m.ref&&(p.ref&&F(p.ref,null,m),c.push(m.ref,m.__c||_,m)),null==f&&null!=_&&(f=_),4&m.__u?(i=P(m,i,e),p.__e&&(p.__e=null)):"function"==typeof m.type&&void 0!==g?i=g:_&&(i=_.nextSibling),m.__u&=-7);return n.__e=f,i}function q(e,t,n,s,r){var a,o,l,i,u,c=n.length,d=c,p=0;for(e.__k=new Array(r),a=0;a<r;a++)null!=(o=t[a])&&"boolean"!=typeof o&&"function"!=typeof o?("string"==typeof o||"number"==typeof o||"bigint"==typeof o||o.constructor==String?o=e.__k[a]=y(null,o,null,null,null):f(o)?o=e.__k[a]=y(w,{children:o},null,null,null):void 0===o.constructor&&o.__b>0?o=e.__k[a]=y(o.type,o.props,o.key,o.ref?o.ref:null,o.__v):e.__k[a]=o,i=a+p,o.__=e,o.__b=e.__b+1,l=null,-1!=(u=o.__i=I(o,n,i,d))&&(d--,(l=n[u])&&(l.__u|=2)),null==l||null==l.__v?(-1==u&&(r>c?p--:r<c&&p++),"function"!=typeof o.type&&(o.__u|=4)):u!=i&&(u==i-1?p--:u==i+1?p++:(u>i?p--:p++,o.__u|=4))):e.__k[a]=null;if(d)for(a=0;a<c;a++)null!=(l=n[a])&&!(2&l.__u)&&(l.__e==s&&(s=x(l)),D(l,l));return s}function P(e,t,n){var s,r;if("function"==typeof e.type){for(s=e.__k,r=0;s&&r<s.length;r++)s[r]&&(s[r].__=e,t=P(s[r],t,n));return t}e.__e!=t&&(t&&e.type&&!t.parentNode&&(t=x(e)),t=n.insertBefore(e.__e,t||null));do{t=t&&t.nextSibling}while(null!=t&&8==t.nodeType);return t}function I(e,t,n,s){var r,a,o,l=e.key,i=e.type,u=t[n],c=null!=u&&!(2&u.__u);if(null===u&&null==l||c&&l==u.key&&i==u.type)return n;if(s>(c?1:0))for(r=n-1,a=n+1;r>=0||a<t.length;)if(null!=(u=t[o=r>=0?r--:a++])&&!(2&u.__u)&&l==u.key&&i==u.type)return o;return-1}function R(e,t,n){"-"==t[0]?e.setProperty(t,null==n?"":n):e[t]=null==n?"":"number"!=typeof n||_.test(t)?n:n+"px"}function A(e,t,n,s,r){var a,o;e:if("style"==t)if("string"==typeof n)e.style.cssText=n;else{if("string"==typeof s&&(e.style.cssText=s=""),s)for(t in s)n&&t in n||R(e.style,t,"");if(n)for(t in n)s&&n[t]==s[t]||R(e.style,t,n[t])}else if("o"==t[0]&&"n"==t[1])a=t!=(t=t.replace(c,"$1")),o=t.toLowerCase(),t=o in e||"onFocusOut"==t||"onFocusIn"==t?o.slice(2):t.slice(2),e.l||(e.l={}),e.l[t+a]=n,n?s?n[u]=s[u]:(n[u]=d,e.addEventListener(t,a?m:p,a)):e.removeEventListener(t,a?m:p,a);else{if("http://www.w3.org/2000/svg"==r)t=t.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if("width"!=t&&"height"!=t&&"href"!=t&&"list"!=t&&"form"!=t&&"tabIndex"!=t&&"download"!=t&&"rowSpan"!=t&&"colSpan"!=t&&"role"!=t&&"popover"!=t&&t in e)try{e[t]=null==n?"":n;break e}catch(e){}"function"==typeof n||(null==n||!1===n&&"-"!=t[4]?e.removeAttribute(t):e.setAttribute(t,"popover"==t&&1==n?"":n))}}function U(e){return function(n){if(this.l){var s=this.l[n.type+e];if(null==n[i])n[i]=d++;else if(n[i]<s[u])return;return s(t.event?t.event(n):n)}}}function L(n,s,r,a,o,l,i,u,c,d){var p,m,_,b,y,M,T,S,C,q,P,I,R,U,L,j,F=s.type;if(void 0!==s.constructor)return null;128&r.__u&&(c=!!(32&r.__u),l=[u=s.__e=r.__e]),(p=t.__b)&&p(s);e:if("function"==typeof F){m=i.length;try{if(C=s.props,q=F.prototype&&F.prototype.render,P=(p=F.contextType)&&a[p.__c],I=p?P?P.props.value:p.__:a,r.__c?S=(_=s.__c=r.__c).__=_.__E:(q?s.__c=_=new F(C,I):(s.__c=_=new k(C,I),_.constructor=F,_.render=E),P&&P.sub(_),_.state||(_.state={}),_.__n=a,b=_.__d=!0,_.__h=[],_._sb=[]),q&&null==_.__s&&(_.__s=_.state),q&&null!=F.getDerivedStateFromProps&&(_.__s==_.state&&(_.__s=g({},_.__s)),g(_.__s,F.getDerivedStateFromProps(C,_.__s))),y=_.props,M=_.state,_.__v=s,b)q&&null==F.getDerivedStateFromProps&&null!=_.componentWillMount&&_.componentWillMount(),q&&null!=_.componentDidMount&&_.__h.push(_.componentDidMount);else{if(q&&null==F.getDerivedStateFromProps&&C!==y&&null!=_.componentWillReceiveProps&&_.componentWillReceiveProps(C,I),s.__v==r.__v||!_.__e&&null!=_.shouldComponentUpdate&&!1===_.shouldComponentUpdate(C,_.__s,I)){s.__v!=r.__v&&(_.props=C,_.state=_.__s,_.__d=!1),s.__e=r.__e,s.__k=r.__k,s.__k.some(function(e){e&&(e.__=s)}),h.push.apply(_.__h,_._sb),_._sb=[],_.__h.length&&i.push(_),u=x(r);break e}null!=_.componentWillUpdate&&_.componentWillUpdate(C,_.__s,I),q&&null!=_.componentDidUpdate&&_.__h.push(function(){_.componentDidUpdate(y,M,T)})}if(_.context=I,_.props=C,_.__P=n,_.__e=!1,R=t.__r,U=0,q)_.state=_.__s,_.__d=!1,R&&R(s),p=_.render(_.props,_.state,_.context),h.push.apply(_.__h,_._sb),_._sb=[];else do{_.__d=!1,R&&R(s),p=_.render(_.props,_.state,_.context),_.state=_.__s}while(_.__d&&++U<25);_.state=_.__s,null!=_.getChildContext&&(a=g(g({},a),_.getChildContext())),q&&!b&&null!=_.getSnapshotBeforeUpdate&&(T=_.getSnapshotBeforeUpdate(y,M)),L=null!=p&&p.type===w&&null==p.key?H(p.props.children):p,u=N(n,f(L)?L:[L],s,r,a,o,l,i,u,c,d),_.base=s.__e,s.__u&=-161,_.__h.length&&i.push(_),S&&(_.__E=_.__=null)}catch(n){if(i.length=m,s.__v=null,c||null!=l){if(n.then){for(s.__u|=c?160:128;u&&8==u.nodeType&&u.nextSibling;)u=u.nextSibling;null!=l&&(l[l.indexOf(u)]=null),s.__e=u}else if(null!=l)for(j=l.length;j--;)v(l[j])}else s.__e=r.__e;null==s.__k&&(s.__k=r.__k||[]),n.then||O(s),t.__e(n,s,r)}}else null==l&&s.__v==r.__v?(s.__k=r.__k,s.__e=r.__e):u=s.__e=function(n,s,r,a,o,l,i,u,c){var d,p,m,h,_,g,b,y=r.props||$,w=s.props,k=s.type;if("svg"==k?o="http://www.w3.org/2000/svg":"math"==k?o="http://www.w3.org/1998/Math/MathML":o||(o="http://www.w3.org/1999/xhtml"),null!=l)for(d=0;d<l.length;d++)if((_=l[d])&&"setAttribute"in _==!!k&&(k?_.localName==k:3==_.nodeType)){n=_,l[d]=null;break}if(null==n){if(null==k)return document.createTextNode(w);n=document.createElementNS(o,k,w.is&&w),u&&(t.__m&&t.__m(s,l),u=!1),l=null}if(null==k)y===w||u&&n.data==w||(n.data=w);else{if(l="textarea"==k&&null!=w.defaultValue?null:l&&e.call(n.childNodes),!u&&null!=l)for(y={},d=0;d<n.attributes.length;d++)y[(_=n.attributes[d]).name]=_.value;for(d in y)_=y[d],"dangerouslySetInnerHTML"==d?m=_:"children"==d||d in w||"value"==d&&"defaultValue"in w||"checked"==d&&"defaultChecked"in w||A(n,d,null,_,o);for(d in w)_=w[d],"children"==d?h=_:"dangerouslySetInnerHTML"==d?p=_:"value"==d?g=_:"checked"==d?b=_:u&&"function"!=typeof _||y[d]===_||A(n,d,_,y[d],o);if(p)u||m&&(p.__html==m.__html||p.__html==n.innerHTML)||(n.innerHTML=p.__html),s.__k=[];else if(m&&(n.innerHTML=""),N("template"==s.type?n.content:n,f(h)?h:[h],s,r,a,"foreignObject"==k?"http://www.w3.org/1999/xhtml":o,l,i,l?l[0]:r.__k&&x(r,0),u,c),null!=l)for(d=l.length;d--;)v(l[d]);u&&"textarea"!=k||(d="value","progress"==k&&null==g?n.removeAttribute("value"):null!=g&&(g!==n[d]||"progress"==k&&!g||"option"==k&&g!=y[d])&&A(n,d,g,y[d],o),d="checked",null!=b&&b!=n[d]&&A(n,d,b,y[d],o))}return n}(r.__e,s,r,a,o,l,i,c,d);return(p=t.diffed)&&p(s),128&s.__u?void 0:u}function O(e){e&&(e.__c&&(e.__c.__e=!0),e.__k&&e.__k.some(O))}function j(e,n,s){for(var r=0;r<s.length;r++)F(s[r],s[++r],s[++r]);t.__c&&t.__c(n,e),e.some(function(n){try{e=n.__h,n.__h=[],e.some(function(e){e.call(n)})}catch(e){t.__e(e,n.__v)}})}function H(e){return"object"!=typeof e||null==e||e.__b>0?e:f(e)?e.map(H):void 0!==e.constructor?null:g({},e)}function F(e,n,s){try{if("function"==typeof e){var r="function"==typeof e.__u;r&&e.__u(),r&&null==n||(e.__u=e(n))}else e.current=n}catch(e){t.__e(e,s)}}function D(e,n,s){var r,a;if(t.unmount&&t.unmount(e),(r=e.ref)&&(r.current&&r.current!=e.__e||F(r,null,n)),null!=(r=e.__c)){if(r.componentWillUnmount)try{r.componentWillUnmount()}catch(e){t.__e(e,n)}r.base=r.__P=r.__n=null}if(r=e.__k)for(a=0;a<r.length;a++)r[a]&&D(r[a],n,s||"function"!=typeof e.type);s||v(e.__e),e.__c=e.__=e.__e=void 0}function E(e,t,n){return this.constructor(e,n)}e=h.slice,t={__e:function(e,t,n,s){for(var r,a,o;t=t.__;)if((r=t.__c)&&!r.__)try{if((a=r.constructor)&&null!=a.getDerivedStateFromError&&(r.setState(a.getDerivedStateFromError(e)),o=r.__d),null!=r.componentDidCatch&&(r.componentDidCatch(e,s||{}),o=r.__d),o)return r.__E=r}catch(t){e=t}throw e}},n=0,k.prototype.setState=function(e,t){var n;n=null!=this.__s&&this.__s!=this.state?this.__s:this.__s=g({},this.state),"function"==typeof e&&(e=e(g({},n),this.props)),e&&g(n,e),null!=e&&this.__v&&(t&&this._sb.push(t),S(this))},k.prototype.forceUpdate=function(e){this.__v&&(this.__e=!0,e&&this.__h.push(e),S(this))},k.prototype.render=w,s=[],a="function"==typeof Promise?Promise.prototype.then.bind(Promise.resolve()):setTimeout,o=function(e,t){return e.__v.__b-t.__v.__b},C.__r=0,l=Math.random().toString(8),i="__d"+l,u="__a"+l,c=/(PointerCapture)$|Capture$/i,d=0,p=U(!1),m=U(!0);var W=function(e,t,n,s){var r;t[0]=0;for(var a=1;a<t.length;a++){var o=t[a++],l=t[a]?(t[0]|=o?1:2,n[t[a++]]):t[++a];3===o?s[0]=l:4===o?s[1]=Object.assign(s[1]||{},l):5===o?(s[1]=s[1]||{})[t[++a]]=l:6===o?s[1][t[++a]]+=l+"":o?(r=e.apply(l,W(e,l,n,["",null])),s.push(r),l[0]?t[0]|=2:(t[a-2]=0,t[a]=r)):s.push(l)}return s},B=new Map;var K,J,V,z,Q=function(e){var t=B.get(this);return t||(t=new Map,B.set(this,t)),(t=W(this,t.get(e)||(t.set(e,t=function(e){for(var t,n,s=1,r="",a="",o=[0],l=function(e){1===s&&(e||(r=r.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?o.push(0,e,r):3===s&&(e||r)?(o.push(3,e,r),s=2):2===s&&"..."===r&&e?o.push(4,e,0):2===s&&r&&!e?o.push(5,0,!0,r):s>=5&&((r||!e&&5===s)&&(o.push(s,0,r,n),s=6),e&&(o.push(s,e,0,n),s=6)),r=""},i=0;i<e.length;i++){i&&(1===s&&l(),l(i));for(var u=0;u<e[i].length;u++)t=e[i][u],1===s?"<"===t?(l(),o=[o],s=3):r+=t:4===s?"--"===r&&">"===t?(s=1,r=""):r=t+r[0]:a?t===a?a="":r+=t:'"'===t||"'"===t?a=t:">"===t?(l(),s=1):s&&("="===t?(s=5,n=r,r=""):"/"===t&&(s<5||">"===e[i][u+1])?(l(),3===s&&(o=o[0]),s=o,(o=o[0]).push(2,0,s),s=0):" "===t||"\t"===t||"\n"===t||"\r"===t?(l(),s=2):r+=t),3===s&&"!--"===r&&(s=4,o=o[0])}return l(),o}(e)),t),arguments,[])).length>1?t:t[0]}.bind(b),Y=0,G=[],X=t,Z=X.__b,ee=X.__r,te=X.diffed,ne=X.__c,se=X.unmount,re=X.__;function ae(e,t){X.__h&&X.__h(J,e,Y||t),Y=0;var n=J.__H||(J.__H={__:[],__h:[]});return e>=n.__.length&&n.__.push({}),n.__[e]}function oe(e){return Y=1,function(e,t,n){var s=ae(K++,2);if(s.t=e,!s.__c&&(s.__=[n?n(t):he(void 0,t),function(e){var t=s.__N?s.__N[0]:s.__[0],n=s.t(t,e);t!==n&&(s.__N=[n,s.__[1]],s.__c.setState({}))}],s.__c=J,!J.__f)){var r=function(e,t,n){if(!s.__c.__H)return!0;var r=!1,o=s.__c.props!==e;if(s.__c.__H.__.some(function(e){if(e.__N){r=!0;var t=e.__[0];e.__=e.__N,e.__N=void 0,t!==e.__[0]&&(o=!0)}}),a){var l=a.call(this,e,t,n);return r?l||o:l}return!r||o};J.__f=!0;var a=J.shouldComponentUpdate,o=J.componentWillUpdate;J.componentWillUpdate=function(e,t,n){if(this.__e){var s=a;a=void 0,r(e,t,n),a=s}o&&o.call(this,e,t,n)},J.shouldComponentUpdate=r}return s.__N||s.__}(he,e)}function le(e,t){var n=ae(K++,3);!X.__s&&$e(n.__H,t)&&(n.__=e,n.u=t,J.__H.__h.push(n))}function ie(e){return Y=5,function(e,t){var n=ae(K++,7);return $e(n.__H,t)&&(n.__=e(),n.__H=t,n.__h=e),n.__}(function(){return{current:e}},[])}function ue(){for(var e;e=G.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(pe),t.__h.some(me),t.__h=[]}catch(n){t.__h=[],X.__e(n,e.__v)}}}X.__b=function(e){J=null,Z&&Z(e)},X.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),re&&re(e,t)},X.__r=function(e){ee&&ee(e),K=0;var t=(J=e.__c).__H;t&&(V===J?(t.__h=[],J.__h=[],t.__.some(function(e){e.__N&&(e.__=e.__N),e.u=e.__N=void 0})):(t.__h.some(pe),t.__h.some(me),t.__h=[],K=0)),V=J},X.diffed=function(e){te&&te(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&(1!==G.push(t)&&z===X.requestAnimationFrame||((z=X.requestAnimationFrame)||de)(ue)),t.__H.__.some(function(e){e.u&&(e.__H=e.u,e.u=void 0)})),V=J=null},X.__c=function(e,t){t.some(function(e){try{e.__h.some(pe),e.__h=e.__h.filter(function(e){return!e.__||me(e)})}catch(n){t.some(function(e){e.__h&&(e.__h=[])}),t=[],X.__e(n,e.__v)}}),ne&&ne(e,t)},X.unmount=function(e){se&&se(e);var t,n=e.__c;n&&n.__H&&(n.__H.__.some(function(e){try{pe(e)}catch(e){t=e}}),n.__H=void 0,t&&X.__e(t,n.__v))};var ce="function"==typeof requestAnimationFrame;function de(e){var t,n=function(){clearTimeout(s),ce&&cancelAnimationFrame(t),setTimeout(e)},s=setTimeout(n,35);ce&&(t=requestAnimationFrame(n))}function pe(e){var t=J,n=e.__c;"function"==typeof n&&(e.__c=void 0,n()),J=t}function me(e){var t=J;e.__c=e.__(),J=t}function $e(e,t){return!e||e.length!==t.length||t.some(function(t,n){return t!==e[n]})}function he(e,t){return"function"==typeof t?t(e):t}let _e=null;const fe=new Set;class ge extends Error{}class ve extends Error{constructor(e,t,n){super(n),this.status=e,this.code=t}}function be(){return null!==_e}async function ye(e,t={}){const n=new URLSearchParams;for(const[e,s]of Object.entries(t))null!=s&&""!==s&&n.set(e,s);const s=n.toString(),r=s?`${e}?${s}`:e,a=await fetch(r,{headers:we(),credentials:"omit",cache:"no-store"});if(!a.ok)throw await ke(a);return a.json()}function we(e={}){const t={Accept:"application/json",...e};return null!==_e&&(t.Authorization=`Bearer ${_e}`),t}async function ke(e){let t=null;try{t=await e.json()}catch{}const n=t?.error??{};if(401===e.status){const e=n.message??"This server needs a key";for(const t of fe)t(e);return new ge(e)}return new ve(e.status,n.code??"",n.message??`${e.status} ${e.statusText}`)}async function xe(e,t,{signal:n,body:s,onResponse:r}={}){const a={headers:we(),credentials:"omit",cache:"no-store",signal:n};void 0!==s&&(a.method="POST",a.headers["Content-Type"]="application/json",a.body=JSON.stringify(s));const o=await fetch(e,a);if(!o.ok)throw await ke(o);r?.(o);const l=o.body.getReader(),i=new TextDecoder;let u="";for(;;){const{value:e,done:n}=await l.read();if(n)break;let s;for(u+=i.decode(e,{stream:!0});(s=u.indexOf("\n\n"))>=0;){const e=u.slice(0,s);u=u.slice(s+2);let n="message";const r=[];for(const t of e.split("\n"))t.startsWith("event: ")?n=t.slice(7):t.startsWith("data: ")?r.push(t.slice(6)):t.startsWith("data:")&&r.push(t.slice(5));r.length>0&&t(n,r.join("\n"))}if(u.length>8388608)throw new ve(0,"event_too_large","An event of the stream is too large")}}async function Me(e,t,n){const s={method:e,headers:we(),credentials:"omit",cache:"no-store"};void 0!==n&&(s.headers["Content-Type"]="application/json",s.body=JSON.stringify(n));const r=await fetch(t,s);if(!r.ok)throw await ke(r);return r.json()}function Te(e){return"series-"+e%8}function Se(e){if(!(e>0&&Number.isFinite(e)))return 1;const t=10**Math.floor(Math.log10(e));for(const n of[1,2,5,10])if(n*t>=e)return n*t;return 10*t}function Ce({names:e}){return Q`<ul class="legend" aria-hidden="true">
    ${e.map((e,t)=>Q`<li><span class=${`swatch ${Te(t)}`}></span>${e}</li>`)}
  </ul>`}function Ne({id:e,title:t,empty:n,note:s,svg:r,head:a,rows:o}){return Q`<figure class="chart" aria-labelledby=${e}>
    <figcaption><h2 id=${e}>${t}</h2>${s&&Q`<p class="muted small">${s}</p>`}</figcaption>
    ${n?Q`<p class="muted empty">${n}</p>`:r}
    ${!n&&Q`<details>
      <summary>The numbers</summary>
      <table class="numbers">
        <thead><tr>${a.map((e,t)=>Q`<th scope="col" class=${t?"num":""}>${e}</th>`)}</tr></thead>
        <tbody>${o.map(e=>Q`<tr>
          ${e.map((e,t)=>t?Q`<td class="num">${e}</td>`:Q`<th scope="row">${e}</th>`)}
        </tr>`)}</tbody>
      </table>
    </details>`}
  </figure>`}function qe({id:e,title:t,note:n,columns:s,series:r,value:a,format:o,empty:l}){const i=r.filter(e=>s.some(t=>a(t,e)>0)),u=(e,t)=>a(e,i[t]),c=s.map(e=>i.reduce((t,n,s)=>t+(u(e,s)||0),0)),d=c.reduce((e,t)=>e+t,0);if(0===s.length||0===i.length||!(d>0))return Q`<${Ne} id=${e} title=${t} note=${n} empty=${l} />`;const p=Se(Math.max(...c)),m=564/s.length,$=Math.max(2,Math.min(48,.7*m)),h=e=>10+186*(1-e/p),_=Math.ceil(s.length/10),f=Q`<svg class="plot" viewBox=${"0 0 640 220"} role="img" aria-labelledby=${e}>
    ${[0,.5,1].map(e=>Q`<g class="grid">
      <line x1=${64} x2=${628} y1=${h(e*p)} y2=${h(e*p)} />
      <text x=${58} y=${h(e*p)+4} text-anchor="end">${o(e*p)}</text>
    </g>`)}
    ${s.map((e,t)=>{const n=64+m*t+(m-$)/2;let s=0;return Q`<g class="column">
        ${i.map((t,r)=>{const a=u(e,r)||0;if(!(a>0))return null;const l=Q`<rect class=${`bar ${Te(r)}`} x=${n} width=${$}
            y=${h(s+a)} height=${Math.max(1,h(s)-h(s+a))}>
            <title>${e.label} · ${t}: ${o(a)}</title></rect>`;return s+=a,l})}
        ${t%_===0&&Q`<text class="axis" x=${n+$/2} y=${214} text-anchor="middle">${e.label}</text>`}
      </g>`})}
  </svg>`,g=s.map((e,t)=>[e.label,...i.map((t,n)=>o(u(e,n)||0)),o(c[t])]).filter((e,t)=>c[t]>0);return Q`<${Ne} id=${e} title=${t} note=${n} svg=${Q`${f}<${Ce} names=${i} />`}
    head=${["Day",...i,"Total"]} rows=${g} />`}function Pe({id:e,title:t,note:n,groupLabel:s,groups:r,bars:a,value:o,format:l,max:i,empty:u}){const c=r.map(e=>a.map((t,n)=>o(e,n))),d=Math.max(0,...c.flat().filter(e=>"number"==typeof e));if(0===r.length||!(d>0||i))return Q`<${Ne} id=${e} title=${t} note=${n} empty=${u} />`;const p=120,m=14*a.length+10,$=r.length*m+24,h=i??Se(d),_=e=>p+448*Math.min(1,e/h),f=Q`<svg class="plot" viewBox=${`0 0 640 ${$}`} role="img" aria-labelledby=${e}>
    ${[0,.5,1].map(e=>Q`<g class="grid">
      <line x1=${_(e*h)} x2=${_(e*h)} y1="0" y2=${$-18} />
      <text x=${_(e*h)} y=${$-4} text-anchor="middle">${l(e*h)}</text>
    </g>`)}
    ${r.map((e,t)=>Q`<g class="row">
      <text class="axis" x=${112} y=${t*m+14*a.length/2+4} text-anchor="end">
        ${e.length>16?`${e.slice(0,15)}…`:e}</text>
      ${a.map((n,s)=>{const r=c[t][s];if("number"!=typeof r)return null;const a=t*m+14*s;return Q`<g>
          <rect class=${`bar ${Te(s)}`} x=${p} y=${a} height=${12}
            width=${Math.max(1,_(r)-p)}><title>${e} · ${n.label}: ${l(r)}</title></rect>
          <text class="value" x=${_(r)+4} y=${a+14-4}>${l(r)}</text>
        </g>`})}
    </g>`)}
  </svg>`,g=r.map((e,t)=>[e,...c[t].map(e=>"number"==typeof e?l(e):"–")]);return Q`<${Ne} id=${e} title=${t} note=${n}
    svg=${Q`${f}<${Ce} names=${a.map(e=>e.label)} />`}
    head=${[s,...a.map(e=>e.label)]} rows=${g} />`}function Ie(e){if("number"!=typeof e||!Number.isFinite(e))return"–";if(0===e)return"$0";const t=Math.abs(e)<.01?6:4;return`$${e.toFixed(t).replace(/0+$/,"").replace(/\.$/,"")}`}function Re(e){if("number"!=typeof e||!Number.isFinite(e))return"–";if(e<1e3)return`${Math.round(e)} ms`;if(e<6e4)return`${(e/1e3).toFixed(2)} s`;const t=Math.round(e/1e3);return`${Math.floor(t/60)} min ${t%60} s`}function Ae(e){if("number"!=typeof e||e<=0)return"–";const t=new Date(e),n=e=>String(e).padStart(2,"0");return`${t.getFullYear()}-${n(t.getMonth()+1)}-${n(t.getDate())} ${n(t.getHours())}:${n(t.getMinutes())}:${n(t.getSeconds())}`}function Ue(e){if(!e)return"–";return`${e.input_tokens??0} in / ${e.output_tokens??0} out`}function Le({status:e}){return Q`<span class=${`badge status-${e}`}>${e}</span>`}function Oe({error:e}){if(e instanceof ge)return Q`<p class="note">This server needs a key: give it above.</p>`;const t=e.code?` (${e.code})`:"";return Q`<p class="note error" role="alert">${e.message}${t}</p>`}function je({b:e}){const t=e.rows>0?e.done/e.rows:0;return Q`<span class="progress">
    <progress max=${e.rows} value=${e.done} aria-label=${`${e.done} of ${e.rows} rows`}></progress>
    <span class="num small">${e.done}/${e.rows} (${Math.round(100*t)}%)</span>
  </span>`}function He({onStarted:e}){const[t,n]=oe([]),[s,r]=oe({pipeline:"",rows:"",concurrency:16}),[a,o]=oe(null);le(()=>{ye("/v1/pipelines").then(e=>{n(e.data),r(t=>({...t,pipeline:t.pipeline||e.data[0]?.name||""}))}).catch(o)},[]);const l=t.find(e=>e.name===s.pipeline)?.inputs??[];return 0!==t.length||a?Q`<form class="playground" onSubmit=${async t=>{t.preventDefault(),o(null);try{const t=function(e){const t=[],n=e.split("\n");for(let e=0;e<n.length;++e){const s=n[e].trim();if(!s)continue;let r;try{r=JSON.parse(s)}catch{throw new Error(`line ${e+1}: not JSON`)}if(null===r||"object"!=typeof r||Array.isArray(r))throw new Error(`line ${e+1}: not a JSON object`);if(t.push(r),t.length>1e4)throw new Error("more than 10000 rows: use tutti batch")}if(0===t.length)throw new Error("no rows");return t}(s.rows),n=await Me("POST","/v1/batches",{pipeline:s.pipeline,rows:t,concurrency:Number(s.concurrency)});e(n.id)}catch(e){o(e)}}} aria-labelledby="start-title">
    <h2 id="start-title" class="wide">Start a batch</h2>
    <label>Pipeline
      <select name="pipeline" value=${s.pipeline} onChange=${e=>r({...s,pipeline:e.currentTarget.value})}>
        ${t.map(e=>Q`<option>${e.name}</option>`)}
      </select>
    </label>
    <label>Rows at once
      <input name="concurrency" type="number" min="1" max="256" value=${s.concurrency}
        onInput=${e=>r({...s,concurrency:e.currentTarget.value})} />
    </label>
    <label class="wide">Rows, one JSON object per line (inputs: ${l.join(", ")||"–"})
      <textarea name="rows" rows="4" required value=${s.rows} spellcheck="false"
        placeholder=${`{"id": 1, ${l.map(e=>`"${e}": "..."`).join(", ")}}`}
        onInput=${e=>r({...s,rows:e.currentTarget.value})}></textarea>
    </label>
    <div class="actions"><button type="submit">Start</button></div>
    ${a&&Q`<div class="wide"><${Oe} error=${a} /></div>`}
  </form>`:null}function Fe(){const[e,t]=oe(null),[n,s]=oe(null),[r,a]=oe(0);le(()=>{let e=!0,n=null;return ye("/v1/batches").then(s=>{e&&(t(s.data),s.data.some(e=>"running"===e.status)&&(n=setTimeout(()=>a(e=>e+1),2e3)))}).catch(t=>e&&s(t)),()=>{e=!1,n&&clearTimeout(n)}},[r]);return Q`<section aria-labelledby="batches-title">
    <h1 id="batches-title">Batches</h1>
    ${n&&Q`<${Oe} error=${n} />`}
    <${He} onStarted=${e=>{location.hash=`#/batches/${encodeURIComponent(e)}`}} />
    <h2>This server's batches</h2>
    ${e&&0===e.length&&Q`<p class="muted">None yet. Start one above, with <code>POST /v1/batches</code>, or
      from the command line with <code>tutti batch</code> (its rows then show in History).</p>`}
    ${e&&e.length>0&&Q`<table class="batches">
      <thead><tr><th scope="col">Started</th><th scope="col">Pipeline</th><th scope="col">Status</th>
        <th scope="col">Progress</th><th scope="col" class="num">Failed</th><th scope="col" class="num">Cost</th></tr></thead>
      <tbody>${e.map(e=>Q`<tr>
        <td><a href=${`#/batches/${encodeURIComponent(e.id)}`}>${Ae(1e3*e.created)}</a></td>
        <td>${e.pipeline}</td><td><${Le} status=${e.status} /></td>
        <td><${je} b=${e} /></td>
        <td class="num">${e.failed+e.invalid}</td><td class="num">${Ie(e.cost_usd)}</td>
      </tr>`)}</tbody>
    </table>`}
  </section>`}function De({id:e}){const[t,n]=oe(null),[s,r]=oe(null),[a,o]=oe(0);le(()=>{let t=!0,s=null;return ye(`/v1/batches/${encodeURIComponent(e)}`).then(e=>{t&&(n(e),"running"===e.status&&(s=setTimeout(()=>o(e=>e+1),1e3)))}).catch(e=>t&&r(e)),()=>{t=!1,s&&clearTimeout(s)}},[e,a]);const l=Q`<p><a href="#/batches">← Batches</a></p>`;if(s instanceof ve&&"batch_not_found"===s.code)return Q`<section>${l}<p class="note">This server no longer has batch <code>${e}</code>.</p></section>`;if(s)return Q`<section>${l}<${Oe} error=${s} /></section>`;if(!t)return Q`<section>${l}<p class="muted" role="status">Loading…</p></section>`;const i=Object.keys(t.failures_by_kind??{});return Q`<section aria-labelledby="batch-title">
    ${l}
    <div class="view-head">
      <h1 id="batch-title">${t.pipeline} <span class="muted">batch</span></h1>
      <${Le} status=${t.status} />
    </div>
    <p><${je} b=${t} /></p>
    <dl class="figures summary">
      <div><dt>OK</dt><dd>${t.ok}</dd></div>
      <div><dt>Partial</dt><dd>${t.partial}</dd></div>
      <div><dt>Failed</dt><dd class="failed-count">${t.failed+t.invalid}</dd></div>
      <div><dt>In flight</dt><dd>${t.in_flight}</dd></div>
      <div><dt>Rate</dt><dd>${t.rows_per_s.toFixed(1)} rows/s</dd></div>
      <div><dt>ETA</dt><dd>${null===t.eta_ms?"–":Re(t.eta_ms)}</dd></div>
      <div><dt>Elapsed</dt><dd>${Re(t.elapsed_ms)}</dd></div>
      <div><dt>Cost</dt><dd class="cost">${Ie(t.cost_usd)}</dd></div>
      <div><dt>Batch</dt><dd><code>${t.id}</code></dd></div>
    </dl>
    ${t.error&&Q`<p class="note error" role="alert">${t.error}</p>`}
    ${"running"===t.status&&Q`<p><button type="button" class="secondary" onClick=${async()=>{try{n(await Me("DELETE",`/v1/batches/${encodeURIComponent(e)}`))}catch(e){r(e)}}}>Cancel the batch</button></p>`}
    <${Pe} id="chart-batch-failures" title="Failures by kind" groupLabel="Kind"
      groups=${i} bars=${[{label:"rows"}]} value=${e=>t.failures_by_kind[e]} format=${e=>Number.isInteger(e)?String(e):e.toFixed(1)}
      empty="No row has failed." />
    <h2>Rows that failed</h2>
    ${0===(t.failed_rows??[]).length?Q`<p class="muted">None.</p>`:Q`<table class="failed-rows">
      <thead><tr><th scope="col" class="num">Line</th><th scope="col">Id</th><th scope="col">Kind</th><th scope="col">Message</th></tr></thead>
      <tbody>${t.failed_rows.map(e=>Q`<tr>
        <td class="num">${e.line}</td><td><code>${JSON.stringify(e.id)}</code></td>
        <td><span class="badge status-failed">${e.kind||e.status}</span></td><td>${e.message}</td>
      </tr>`)}</tbody>
    </table>`}
    ${t.failed_rows_total>(t.failed_rows??[]).length&&Q`<p class="muted small">The first
      ${t.failed_rows.length} of ${t.failed_rows_total}; every row is in <code>GET /v1/batches/${t.id}/results</code>.</p>`}
  </section>`}function Ee({id:e}){return e?Q`<${De} id=${e} />`:Q`<${Fe} />`}const We=["","ok","partial","failed","cancelled"],Be={target:"",status:"",key:"",session:"",from:"",to:""};function Ke(e){const t=e?new Date(e).getTime():NaN;return Number.isFinite(t)?t:""}function Je(e){const{from:t,to:n,...s}=e;return{...s,since:Ke(t),until:Ke(n)}}function Ve({run:e}){const t="number"==typeof e.wall_us?e.wall_us/1e3:null;return Q`<tr>
    <td><a href=${`#/runs/${encodeURIComponent(e.id)}`} class="run-link">${Ae(e.started_ms)}</a></td>
    <td>${e.target}<span class="muted"> ${e.target_kind}</span></td>
    <td><${Le} status=${e.status} /></td>
    <td class="num">${Re(t)}</td>
    <td class="num">${Ue(e.usage)}</td>
    <td class="num cost">${Ie(e.cost_usd)}</td>
    <td class="muted">${e.kind}${e.key?` · ${e.key}`:""}</td>
  </tr>`}function ze(){const[e,t]=oe(Be),[n,s]=oe(Be),[r,a]=oe([]),[o,l]=oe(null),[i,u]=oe(!0),[c,d]=oe(null),[p,m]=oe(0),$=async t=>{u(!0),d(null);try{const n=await ye("/v1/runs",{...Je(e),limit:50,cursor:t});a(e=>t?[...e,...n.data]:n.data),l(n.has_more?n.next_cursor:null)}catch(e){d(e)}finally{u(!1)}};le(()=>{$(null)},[e,p]);const h=c instanceof ve&&"store_disabled"===c.code;return Q`<section aria-labelledby="history-title">
    <div class="view-head">
      <h1 id="history-title">History</h1>
      <button type="button" onClick=${()=>m(e=>e+1)}>Refresh</button>
    </div>
    <form class="filters" onSubmit=${e=>{e.preventDefault(),t({...n})}}>
      <label>Target
        <input name="target" value=${n.target} placeholder="any ensemble, provider or pipeline"
          onInput=${e=>s({...n,target:e.currentTarget.value})} />
      </label>
      <label>Status
        <select name="status" value=${n.status}
          onChange=${e=>s({...n,status:e.currentTarget.value})}>
          ${We.map(e=>Q`<option value=${e}>${e||"any"}</option>`)}
        </select>
      </label>
      <label>Key
        <input name="key" value=${n.key} placeholder="any API key"
          onInput=${e=>s({...n,key:e.currentTarget.value})} />
      </label>
      <label>Session
        <input name="session" value=${n.session} placeholder="any conversation"
          onInput=${e=>s({...n,session:e.currentTarget.value})} />
      </label>
      <label>From
        <input name="from" type="datetime-local" value=${n.from}
          onInput=${e=>s({...n,from:e.currentTarget.value})} />
      </label>
      <label>To
        <input name="to" type="datetime-local" value=${n.to}
          onInput=${e=>s({...n,to:e.currentTarget.value})} />
      </label>
      <button type="submit">Filter</button>
      <button type="button" class="secondary" onClick=${()=>{s(Be),t(Be)}}>Clear</button>
    </form>
    ${h?Q`<p class="note">This server keeps no runs (<code>store: none</code>): start it with
          <code>--store runs.db</code> or a <code>store:</code> section to see its history.</p>`:c&&Q`<${Oe} error=${c} />`}
    ${!h&&Q`<table class="runs">
      <caption class="visually-hidden">Runs, newest first</caption>
      <thead><tr>
        <th scope="col">Started</th><th scope="col">Target</th><th scope="col">Status</th>
        <th scope="col" class="num">Wall time</th><th scope="col" class="num">Tokens</th>
        <th scope="col" class="num">Cost</th><th scope="col">Via</th>
      </tr></thead>
      <tbody>${r.map(e=>Q`<${Ve} key=${e.id} run=${e} />`)}</tbody>
    </table>`}
    ${!i&&!c&&0===r.length&&Q`<p class="muted">${Object.values(e).some(e=>e)?"No runs match these filters.":"No runs yet."}</p>`}
    <div class="more">
      ${i&&Q`<span class="muted" role="status">Loading…</span>`}
      ${!i&&o&&Q`<button type="button" onClick=${()=>$(o)}>More</button>`}
    </div>
  </section>`}function Qe(e){return e.toLowerCase().replace(/[^\p{L}\p{N}]+/gu,"")}function Ye(e){const t=e.map(e=>(e??"").split(/(\s+)/)),n=t.map(e=>{const t=new Set;for(let n=0;n<e.length&&n<1e4;n+=2){const s=Qe(e[n]);s&&t.add(s)}return t});return t.map((t,s)=>{if(e.length<2)return[{text:e[s]??"",own:!1}];const r=[];for(let e=0;e<t.length;++e){const a=t[e],o=e%2==0&&e<1e4?Qe(a):"",l=""!==o&&!n.some((e,t)=>t!==s&&e.has(o)),i=r[r.length-1];i&&i.own===l?i.text+=a:r.push({text:a,own:l})}return r})}function Ge({segments:e}){return Q`<pre class="text">${e.map(e=>e.own?Q`<mark>${e.text}</mark>`:e.text)}</pre>`}const Xe=262144;function Ze(e,t=""){return{label:e,step:t,state:"waiting",attempt:0,waitMs:0,reason:"",message:"",text:"",queuedMs:null,sentMs:null,firstTokenMs:null,doneMs:null,outcome:null}}function et(e){return{run:e.run,api:e.api,kind:e.kind,target:e.target,combine:e.combine??"",key:e.key??"",stream:Boolean(e.stream),createdMs:e.created_ms,members:(e.members??[]).map(e=>Ze(e)),steps:Object.fromEntries((e.steps??[]).map(e=>[e,"waiting"])),answerText:"",status:"running",result:null,doneMs:null}}function tt(e,t){return e.length>=Xe?e:(e+t).slice(0,Xe)}function nt(e,t,n=""){let s=e.members.find(e=>e.label===t&&e.step===n);return s||(s=Ze(t,n),e.members.push(s)),s}function st(e){const t=et(e);return t.members=(e.members??[]).map(e=>({...Ze(e.member,e.step??""),state:e.state,attempt:e.attempt??0,waitMs:e.wait_ms??0,reason:e.reason??"",message:e.message??"",text:e.text??"",queuedMs:e.queued_ms,sentMs:e.sent_ms,firstTokenMs:e.first_token_ms,doneMs:e.done_ms,outcome:e.outcome})),t.steps={...e.steps??{}},t.answerText=e.answer_text??"",t.createdMs=Date.now()-(e.t??0),t}function rt(e,t,n){if("snapshot"===t){for(const[t,n]of e.questions)"running"===n.status&&e.questions.delete(t);for(const t of n.questions??[])e.questions.set(t.run,st(t));return e.connected=!0,!0}if("reset"===t)return e.resets+=1,!0;if("question.started"===t){const t=et(n);return t.createdMs=Date.now(),e.questions.set(n.run,t),!0}const s=e.questions.get(n.run);if(!s)return!1;const r=n.step??"";switch(t){case"member.state":{const e=nt(s,n.member,r);return e.state=n.state,e.attempt=n.attempt??e.attempt,"queued"===n.state&&null===e.queuedMs&&(e.queuedMs=n.t),"sent"===n.state&&(e.sentMs=n.t),"retrying"===n.state&&(e.waitMs=n.wait_ms??0,e.reason=n.reason??"",e.message=n.message??""),!0}case"member.delta":{if(n.answer&&!r)return s.answerText=tt(s.answerText,n.text),!0;const e=nt(s,n.member,r);return null===e.firstTokenMs&&(e.firstTokenMs=n.t),"streaming"!==e.state&&(e.state="streaming"),e.text=tt(e.text,n.text),!0}case"member.done":{const e=nt(s,n.member,r);return e.state=n.state,e.doneMs=n.t,e.outcome=n.outcome,!e.text&&n.text&&(e.text=n.text),!0}case"step.started":return s.steps[n.step]="running",!0;case"step.done":return s.steps[n.step]=n.outcome?.status??"done",!0;case"question.done":return s.status=n.status,s.result=n.result,s.doneMs=n.t,!n.result?.text||s.answerText&&!n.result.text.startsWith(s.answerText)||(s.answerText=n.result.text),function(e){const t=[...e.questions.values()].filter(e=>"running"!==e.status);for(let n=0;n+200<t.length;++n)e.questions.delete(t[n].run)}(e),!0;default:return!1}}const at={questions:new Map,connected:!1,resets:0},ot=new Set;let lt=0,it=null,ut=null,ct=null;function dt(){null===ct&&(ct=setTimeout(()=>{ct=null;for(const e of ot)e()},100))}async function pt(){const e=new AbortController;it=e;let t=500;for(;it===e;){try{await xe("/v1/live",(e,t)=>{let n;try{n=JSON.parse(t)}catch{return}rt(at,e,n)&&dt()},{signal:e.signal,onResponse:()=>{ut=null,t=500}})}catch(t){if(e.signal.aborted)return;if(ut=t,t instanceof ge)return it=null,void dt()}at.connected=!1,dt(),await new Promise(e=>setTimeout(e,t)),t=Math.min(2*t,1e4)}}function mt(e){const[,t]=oe(0);return le(()=>{const e=()=>t(e=>e+1);return ot.add(e),lt+=1,null===it&&pt(),()=>{ot.delete(e),lt-=1,setTimeout(()=>{0===lt&&null!==it&&(it.abort(),it=null)},2e3)}},[]),le(()=>{e>0&&null===it&&pt()},[e]),{live:at,error:ut}}function $t(e,t){const n="ok"!==e.status;return{role:t,label:e.member??e.provider??"?",provider:e.provider??"",model:e.model??"",status:e.status??"unknown",failureKind:n?e.error?.kind??e.failure_kind??"":"",httpStatus:e.error?.http_status??e.http_status??null,message:n?e.error?.message??e.error??"":"",latencyMs:e.timing?.total_ms??("number"==typeof e.total_us?e.total_us/1e3:null),usage:e.usage??null,costUsd:e.cost_usd??null,cached:Boolean(e.cached),text:e.text??""}}function ht(e){if("string"!=typeof e||""===e)return"";try{const t=JSON.parse(e);if(!Array.isArray(t))return e;const n=t.filter(e=>"user"===e.role).pop();return n?"string"==typeof n.content?n.content:Array.isArray(n.content)?n.content.map(e=>e.text??"").join(""):"":""}catch{return e}}function _t(e){return{winner:e.winner??"",agreement:"number"==typeof e.agreement?e.agreement:null,ranking:e.ranking??[],meanRanks:e.mean_ranks??[],reviews:e.reviews??[],rounds:e.rounds??null}}function ft({m:e,segments:t}){return Q`<article class=${"member "+("ok"===e.status?"":"failed")} aria-label=${`member ${e.label}`}>
    <header>
      <h3>${e.label}${"member"!==e.role&&Q`<span class="muted"> (${e.role})</span>`}</h3>
      <${Le} status=${e.status} />
    </header>
    <p class="muted">${e.provider}${e.model&&` · ${e.model}`}${e.cached?" · cached":""}</p>
    ${"ok"!==e.status&&Q`<p class="failure">
      <strong>${e.failureKind||"failed"}</strong>${e.httpStatus?` (HTTP ${e.httpStatus})`:""}: ${e.message}
    </p>`}
    <dl class="figures">
      <div><dt>Latency</dt><dd>${Re(e.latencyMs)}</dd></div>
      <div><dt>Tokens</dt><dd>${Ue(e.usage)}</dd></div>
      <div><dt>Cost</dt><dd>${Ie(e.costUsd)}</dd></div>
    </dl>
    ${t?Q`<${Ge} segments=${t} />`:e.text&&Q`<pre class="text">${e.text}</pre>`}
  </article>`}function gt({votes:e}){return e&&0!==e.length?Q`<section aria-labelledby="votes-title">
    <h2 id="votes-title">Votes</h2>
    <table class="votes">
      <thead><tr><th scope="col">Answer</th><th scope="col" class="num">Weight</th><th scope="col">Voters</th></tr></thead>
      <tbody>${e.map(e=>Q`<tr>
        <td>${e.text??e.answer}</td><td class="num">${e.weight}</td><td>${(e.members??[]).join(", ")}</td>
      </tr>`)}</tbody>
    </table>
  </section>`:null}function vt({v:e}){if(!e)return null;const t=[];return null!==e.agreement&&t.push(Q`<p>Agreement: <strong>${Math.round(100*e.agreement)}%</strong>${e.winner&&Q` · winner <strong>${e.winner}</strong>`}</p>`),e.rounds&&t.push(Q`<p>Debate rounds: ${e.rounds}</p>`),e.ranking.length>0&&t.push(Q`<h3>Ranking</h3><ol class="ranking">${e.ranking.map((t,n)=>Q`<li>${t}${"number"==typeof e.meanRanks[n]?Q` <span class="muted small">mean rank ${e.meanRanks[n].toFixed(2)}</span>`:""}</li>`)}</ol>`),e.reviews.length>0&&t.push(Q`<h3>Peer reviews</h3><ul class="reviews">${e.reviews.map(e=>Q`<li>
      <strong>${e.reviewer}</strong> ranked ${(e.ranking??[]).join(" > ")}
      <span class="muted small">(${Object.entries(e.letters??{}).map(([e,t])=>`${e}=${t}`).join(", ")})</span></li>`)}</ul>`),t.length?Q`<section aria-label="Verdict">${t}</section>`:null}function bt({id:e}){const[t,n]=oe(null),[s,r]=oe(null);le(()=>{let t=!0;return n(null),r(null),ye(`/v1/runs/${encodeURIComponent(e)}`).then(e=>t&&n(function(e){if("tutti.run"===e.object){const t=e.calls??[];return{id:e.id,target:e.target,targetKind:e.target_kind,status:e.status,startedMs:e.started_ms,wallMs:"number"==typeof e.wall_us?e.wall_us/1e3:null,usage:e.usage??null,costUsd:e.cost_usd??null,combine:e.combine??"",prompt:ht(e.prompt),answer:e.answer??"",note:e.note??"",votes:e.votes??[],verdict:_t(e),members:t.filter(e=>"member"===(e.role??"member")).map(e=>$t(e,"member")),combiner:t.filter(e=>e.role&&"member"!==e.role).map(e=>$t(e,e.role)),pipelineSteps:e.steps??[]}}const t=e.answer??{};return{id:e.id,target:e.name,targetKind:e.kind,status:e.status,startedMs:"number"==typeof e.created?1e3*e.created:null,wallMs:t.total_ms??null,usage:t.usage??null,costUsd:t.cost_usd??null,combine:t.combine??"",prompt:"",answer:t.text??e.result?.output??"",note:t.note??"",votes:t.votes??[],verdict:_t(t),members:(t.members??[]).map(e=>$t(e,"member")),combiner:(t.combiner_calls??[]).map(e=>$t(e,"combiner")),pipelineSteps:[]}}(e))).catch(e=>t&&r(e)),()=>{t=!1}},[e]);const a=Q`<p><a href="#/runs">← History</a></p>`;if(s)return Q`<section>${a}<${Oe} error=${s} /></section>`;if(!t)return Q`<section>${a}<p class="muted" role="status">Loading…</p></section>`;const o=[...t.members,...t.combiner],l=t.members.filter(e=>"ok"===e.status&&e.text),i=l.length>1?Ye(l.map(e=>e.text)):null;return Q`<section aria-labelledby="run-title">
    ${a}
    <div class="view-head">
      <h1 id="run-title">${t.target} <span class="muted">${t.targetKind}</span></h1>
      <${Le} status=${t.status} />
    </div>
    <dl class="figures summary">
      <div><dt>Started</dt><dd>${Ae(t.startedMs)}</dd></div>
      <div><dt>Wall time</dt><dd>${Re(t.wallMs)}</dd></div>
      <div><dt>Tokens</dt><dd>${Ue(t.usage)}</dd></div>
      <div><dt>Total cost</dt><dd class="cost">${Ie(t.costUsd)}</dd></div>
      ${t.combine&&Q`<div><dt>Combine</dt><dd>${t.combine}</dd></div>`}
      <div><dt>Run</dt><dd><code>${t.id}</code></dd></div>
    </dl>
    ${t.prompt&&Q`<h2>Question</h2><pre class="text">${t.prompt}</pre>`}
    <h2>Answer</h2>
    ${t.answer?Q`<pre class="text answer">${t.answer}</pre>`:Q`<p class="muted">No answer.</p>`}
    ${t.note&&Q`<p class="note"><strong>Note:</strong> ${t.note}</p>`}
    <${gt} votes=${t.votes} />
    <${vt} v=${t.verdict} />
    <h2>Members</h2>
    ${i&&Q`<p class="small muted">Marked: words no other member used.</p>`}
    <div class="members">${o.map(e=>Q`<${ft} m=${e}
      segments=${i&&l.includes(e)?i[l.indexOf(e)]:null} />`)}</div>
  </section>`}function yt(e){switch(e.state){case"waiting":return"waiting";case"queued":return"queued for a permit";case"sent":return e.attempt>1?`sent (attempt ${e.attempt})`:"waiting for the first token";case"streaming":return"streaming";case"retrying":return`retrying in ${Re(e.waitMs)} after ${e.reason}`;case"done":return"done";case"cancelled":return"cancelled";case"failed":return`failed: ${e.outcome?.kind??""}`;default:return e.state}}function wt({m:e}){const t="done"===e.state?"ok":"failed"===e.state?"failed":"retrying"===e.state?"partial":e.state;return Q`<span class=${`badge status-${t}`} data-state=${e.state}>${yt(e)}</span>`}function kt(e){return e.doneMs??Math.max(0,Date.now()-e.createdMs)}function xt({q:e}){return Q`<span class="dots">${e.members.map(e=>Q`<span
    class=${`dot state-${e.state}`} title=${`${e.label}: ${yt(e)}`}></span>`)}</span>`}function Mt({live:e,error:t}){const n=function(e){const t=[...e.questions.values()],n=t.filter(e=>"running"===e.status).reverse(),s=t.filter(e=>"running"!==e.status).reverse();return[...n,...s]}(e);return Q`<section aria-labelledby="live-title">
    <div class="view-head">
      <h1 id="live-title">Live</h1>
      <span class="muted small" role="status">${e.connected?"connected":"connecting…"}</span>
    </div>
    ${t&&Q`<${Oe} error=${t} />`}
    ${0===n.length?Q`<p class="muted">Nothing in flight. Questions appear here as they are asked.</p>`:Q`<table class="live-list">
      <thead><tr><th scope="col">Target</th><th scope="col">API</th><th scope="col">Key</th>
        <th scope="col">Members</th><th scope="col" class="num">Time</th><th scope="col">Status</th></tr></thead>
      <tbody>${n.map(e=>Q`<tr data-run=${e.run}>
        <td><a href=${`#/live/${encodeURIComponent(e.run)}`}>${e.target}</a> <span class="muted small">${e.kind}</span></td>
        <td class="small">${e.api}</td>
        <td class="small">${e.key||Q`<span class="muted">admin</span>`}</td>
        <td><${xt} q=${e} /></td>
        <td class="num">${Re(kt(e))}</td>
        <td><${Le} status=${e.status} /></td>
      </tr>`)}</tbody>
    </table>`}
  </section>`}function Tt({q:e}){const t=Math.max(1,kt(e),...e.members.map(e=>e.doneMs??0)),n=e=>140+610*Math.min(e,t)/t,s=e.members.map((t,s)=>{const r=22*s+4,a=t.doneMs??kt(e),o=[],l=t.queuedMs??t.sentMs??t.firstTokenMs;if(null!=l){const e=t.sentMs??a,s=t.firstTokenMs??a;o.push(Q`<rect class="seg-queued" x=${n(l)} y=${r} width=${Math.max(1,n(e)-n(l))} height="14" />`),null!==t.sentMs&&o.push(Q`<rect class="seg-waiting" x=${n(e)} y=${r} width=${Math.max(1,n(s)-n(e))} height="14" />`),null!==t.firstTokenMs&&o.push(Q`<rect class=${"seg-"+("failed"===t.state?"failed":"streaming")} x=${n(s)} y=${r} width=${Math.max(1,n(a)-n(s))} height="14" />`)}return null!==t.doneMs&&"failed"===t.state&&null===t.firstTokenMs&&o.push(Q`<rect class="seg-failed" x=${n(a)-3} y=${r} width="6" height="14" />`),Q`<g>
      <text x="0" y=${r+12} class="tl-label">${t.step?`${t.step}/`:""}${t.label}</text>
      ${o}
      ${null!==t.doneMs&&Q`<text x=${Math.min(n(a)+4,700)} y=${r+12} class="tl-time">${Re(t.doneMs)}</text>`}
    </g>`});return Q`<figure class="timeline">
    <svg viewBox=${"0 0 760 "+(22*e.members.length+8)} role="img"
      aria-label="Members' timeline: queued, waiting for the first token, streaming">${s}</svg>
    <figcaption class="small muted">
      <span class="key seg-queued"></span> queued <span class="key seg-waiting"></span> waiting for the first token
      <span class="key seg-streaming"></span> streaming <span class="key seg-failed"></span> failed
      · 0 to ${Re(t)}
    </figcaption>
  </figure>`}function St({m:e,segments:t}){const n=e.outcome;return Q`<article class=${"member "+("failed"===e.state?"failed":"")} aria-label=${`member ${e.label}`} data-member=${e.label}>
    <header>
      <h3>${e.step&&Q`<span class="muted">${e.step} · </span>`}${e.label}</h3>
      <${wt} m=${e} />
    </header>
    ${"retrying"===e.state&&e.message&&Q`<p class="failure small">${e.message}</p>`}
    ${n&&!n.ok&&Q`<p class="failure"><strong>${n.kind}</strong>${n.http_status?` (HTTP ${n.http_status})`:""}: ${n.message}</p>`}
    ${n&&Q`<dl class="figures">
      <div><dt>Latency</dt><dd>${Re(n.timing?.total_ms)}</dd></div>
      <div><dt>Tokens</dt><dd>${Ue(n.usage)}</dd></div>
      <div><dt>Cost</dt><dd>${Ie(n.cost_usd)}</dd></div>
    </dl>`}
    ${t?Q`<${Ge} segments=${t} />`:e.text&&Q`<pre class="text" aria-live="off">${e.text}</pre>`}
  </article>`}function Ct({live:e,run:t,embedded:n=!1}){const s=e.questions.get(t),[,r]=oe(0);le(()=>{const e=setInterval(()=>r(e=>e+1),500);return()=>clearInterval(e)},[]);const a=n?null:Q`<p><a href="#/live">← Live</a></p>`;if(!s)return Q`<section>${a}<p class="muted" role="status">
      ${e.connected?"This question is not in flight here. ":"Connecting… "}
      It may be in <a href=${`#/runs/${encodeURIComponent(t)}`}>History</a>.</p></section>`;const o=s.result,l="running"!==s.status,i=s.members.filter(e=>"done"===e.state&&!e.step),u=l&&i.length>1?Ye(i.map(e=>e.text)):null;return Q`<section aria-labelledby="question-title">
    ${a}
    <div class="view-head">
      <h1 id="question-title">${s.target} <span class="muted">${s.kind}${s.combine?` · ${s.combine}`:""}</span></h1>
      <${Le} status=${s.status} />
    </div>
    <dl class="figures summary">
      <div><dt>Time</dt><dd>${Re(kt(s))}</dd></div>
      <div><dt>API</dt><dd>${s.api}</dd></div>
      <div><dt>Key</dt><dd>${s.key||"admin"}</dd></div>
      ${o&&Q`<div><dt>Tokens</dt><dd>${Ue(o.usage)}</dd></div>
        <div><dt>Total cost</dt><dd class="cost">${Ie(o.cost_usd)}</dd></div>`}
      ${null!=o?.agreement&&Q`<div><dt>Agreement</dt><dd>${Math.round(100*o.agreement)}%</dd></div>`}
      <div><dt>Run</dt><dd><code>${s.run}</code></dd></div>
    </dl>
    ${Object.keys(s.steps).length>0&&Q`<p class="steps">${Object.entries(s.steps).map(([e,t])=>Q`<span class=${`badge status-${"done"===t?"ok":t}`}>${e}: ${t}</span> `)}</p>`}
    ${!n&&Q`<h2>Answer</h2>
    ${s.answerText?Q`<pre class="text answer" aria-live="polite">${s.answerText}</pre>`:Q`<p class="muted">${l?"No answer.":"Forming…"}</p>`}`}
    ${o?.note&&Q`<p class="note"><strong>Note:</strong> ${o.note}</p>`}
    ${o&&Q`<${gt} votes=${o.votes} />`}
    ${l&&Q`<p><a href=${`#/runs/${encodeURIComponent(s.run)}`}>Open the stored run</a></p>`}
    <h2>Timeline</h2>
    <${Tt} q=${s} />
    <h2>Members</h2>
    ${u&&Q`<p class="small muted">Marked: words no other member used.</p>`}
    <div class="members">${s.members.map(e=>Q`<${St} m=${e}
      segments=${u&&i.includes(e)?u[i.indexOf(e)]:null} />`)}</div>
  </section>`}function Nt({run:e,epoch:t}){const{live:n,error:s}=mt(t);return e?Q`<${Ct} live=${n} run=${e} />`:Q`<${Mt} live=${n} error=${s} />`}const qt=[["vote",null],["collect",null],["first",null],["judge","judge"],["rank","judge"],["usc","judge"],["synthesize","synthesizer"],["debate",null],["council","chairman"]];function Pt(e){const t={model:e.target,messages:[{role:"user",content:e.question}],stream:!0};if("compose"===e.target){const n={members:e.members,until:e.until,mode:e.mode,combine:e.combine},s=qt.find(([t])=>t===e.combine)?.[1];s&&(n[s]=e.helper),t.model="playground",t.tutti={ensemble:n}}return t}function It({epoch:e}){const{live:t}=mt(e),[n,s]=oe(null),[r,a]=oe(null),[o,l]=oe({target:"",question:"",members:[],until:"all",mode:"parallel",combine:"vote",helper:""}),[i,u]=oe(""),[c,d]=oe(""),[p,m]=oe(!1),$=ie(null);le(()=>(Promise.all([ye("/v1/ensembles"),ye("/v1/providers")]).then(([e,t])=>{const n=e.data.map(e=>e.name),r=t.data.map(e=>e.name);s({ensembles:n,providers:r}),l(e=>({...e,target:e.target||(n[0]?`ensemble/${n[0]}`:"compose"),members:e.members.length?e.members:r.slice(0,3),helper:e.helper||r[0]||""}))}).catch(a),()=>$.current?.abort()),[e]);const h=e=>t=>l({...o,[e]:t.currentTarget.value});if(!n)return Q`<section><h1>Playground</h1>${r?Q`<${Oe} error=${r} />`:Q`<p class="muted" role="status">Loading…</p>`}</section>`;const _="compose"===o.target,f=qt.find(([e])=>e===o.combine)?.[1];return Q`<section aria-labelledby="play-title">
    <h1 id="play-title">Playground</h1>
    <form class="playground" onSubmit=${async e=>{e.preventDefault(),$.current?.abort();const t=new AbortController;$.current=t,u(""),d(""),a(null),m(!0);let n="";try{await xe("/v1/chat/completions",(e,t)=>{if("[DONE]"===t)return;const s=JSON.parse(t);if(s.error)throw new Error(s.error.message);const r=s.choices?.[0]?.delta?.content;r&&(n+=r,u(n))},{signal:t.signal,body:Pt(o),onResponse:e=>d(e.headers.get("x-tutti-run-id")??"")})}catch(e){t.signal.aborted||a(e)}finally{m(!1)}}}>
      <label>Ask
        <select name="target" value=${o.target} onChange=${h("target")}>
          <optgroup label="Ensembles">${n.ensembles.map(e=>Q`<option value=${`ensemble/${e}`}>${e}</option>`)}</optgroup>
          <optgroup label="Providers">${n.providers.map(e=>Q`<option value=${e}>${e}</option>`)}</optgroup>
          <option value="compose">An ensemble composed here…</option>
        </select>
      </label>
      ${_&&Q`<fieldset class="compose">
        <legend>Composed ensemble</legend>
        <div class="choices" role="group" aria-label="Members">${n.providers.map(e=>Q`<label class="check">
          <input type="checkbox" name="member" value=${e} checked=${o.members.includes(e)} onChange=${()=>{return t=e,l({...o,members:o.members.includes(t)?o.members.filter(e=>e!==t):[...o.members,t]});var t}} /> ${e}
        </label>`)}</div>
        <label>Until <select name="until" value=${o.until} onChange=${h("until")}>
          ${["all","first","deadline"].map(e=>Q`<option>${e}</option>`)}</select></label>
        <label>Mode <select name="mode" value=${o.mode} onChange=${h("mode")}>
          ${["parallel","fallback"].map(e=>Q`<option>${e}</option>`)}</select></label>
        <label>Combine <select name="combine" value=${o.combine} onChange=${h("combine")}>
          ${qt.map(([e])=>Q`<option>${e}</option>`)}</select></label>
        ${f&&Q`<label>${f} <select name="helper" value=${o.helper} onChange=${h("helper")}>
          ${n.providers.map(e=>Q`<option>${e}</option>`)}</select></label>`}
      </fieldset>`}
      <label class="wide">Question
        <textarea name="question" rows="3" required value=${o.question} onInput=${h("question")}></textarea>
      </label>
      <div class="actions">
        <button type="submit" disabled=${p}>${p?"Asking…":"Ask"}</button>
        ${p&&Q`<button type="button" class="secondary" onClick=${()=>$.current?.abort()}>Stop</button>`}
      </div>
    </form>
    ${r&&Q`<${Oe} error=${r} />`}
    ${(i||c)&&Q`<h2>Answer</h2><pre class="text answer" aria-live="polite">${i}</pre>`}
    ${c&&Q`<p>Run <code>${c}</code>: <a href=${`#/runs/${encodeURIComponent(c)}`}>the stored run</a></p>`}
    ${c&&t.questions.has(c)&&Q`<${Ct} live=${t} run=${c} embedded=${!0} />`}
  </section>`}const Rt=168;function At(e,t){return e.length>t?`${e.slice(0,t-1)}…`:e}function Ut(e){return e?.ensemble?`ensemble ${e.ensemble}`:e?.call?`call ${e.call}`:""}function Lt({id:e,pipeline:t,states:n}){const{nodes:s,edges:r,columns:a,rows:o,dropped:l}=function(e){const t=Array.isArray(e)?e:[],n=[],s=new Map;for(const e of t){if(200===n.length)break;if(null===e||"object"!=typeof e)continue;const t=String(e.id??"");s.has(t)||(s.set(t,n.length),n.push({id:t,col:0,row:0,step:e}))}const r=[],a=n.map(()=>0),o=n.map(()=>[]);n.forEach((e,t)=>{const n=Array.isArray(e.step?.needs)?e.step.needs.slice(0,200):[],l=new Set;for(const e of n){const n=s.get(String(e));void 0===n||n===t||l.has(n)||(l.add(n),r.push({from:n,to:t}),o[n].push(t),a[t]+=1)}});const l=[];n.forEach((e,t)=>0===a[t]&&l.push(t));let i=0;for(let e=0;e<l.length;e+=1){const t=l[e];i+=1;for(const e of o[t])n[e].col=Math.max(n[e].col,n[t].col+1),a[e]-=1,0===a[e]&&l.push(e)}let u=n.reduce((e,t)=>Math.max(e,t.col+1),0);if(i<n.length){const e=l.length?u:0;n.forEach((t,n)=>{a[n]>0&&(t.col=e)}),u=e+1}const c=new Array(u).fill(0);for(const e of n)e.row=c[e.col]++;return{nodes:n,edges:r,columns:u,rows:Math.max(0,...c),dropped:Math.max(0,t.length-n.length)}}(t.steps);if(0===s.length)return Q`<p class="muted">This pipeline has no steps.</p>`;const i=e=>8+224*e.col,u=e=>8+76*e.row,c=16+a*Rt+56*(a-1),d=16+58*o+18*(o-1),p=`${e}-arrow`;return Q`<figure class="dag" aria-labelledby=${`${e}-title`}>
    <figcaption id=${`${e}-title`} class="visually-hidden">
      The steps of ${t.name}, each after the steps it needs
    </figcaption>
    <div class="dag-scroll" tabindex="0" role="group" aria-labelledby=${`${e}-title`}>
      <svg viewBox=${`0 0 ${c} ${d}`} width=${c} height=${d} role="img"
        aria-labelledby=${`${e}-title`}>
        <defs>
          <marker id=${p} viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"
            orient="auto-start-reverse"><path class="arrow-head" d="M0,0 L10,5 L0,10 z" /></marker>
        </defs>
        ${r.map(({from:e,to:t})=>{const n=s[e],r=s[t],a=i(n)+Rt,o=u(n)+29,l=i(r)-2,c=u(r)+29,d=(a+l)/2;return Q`<path class="edge" marker-end=${`url(#${p})`}
            d=${`M${a},${o} C${d},${o} ${d},${c} ${l},${c}`} />`})}
        ${s.map(e=>{const t=n?.get(e.id);return Q`<g class=${"node"+(t?` state-${t}`:"")} data-step=${e.id} data-state=${t}>
            <title>${e.id}: ${Ut(e.step)}${t?` (${t})`:""}</title>
            <rect x=${i(e)} y=${u(e)} width=${Rt} height=${58} rx="8" />
            <text class="node-id" x=${i(e)+10} y=${u(e)+20}>${At(e.id,20)}</text>
            <text class="node-what" x=${i(e)+10} y=${u(e)+37}>${At(Ut(e.step),24)}</text>
            ${t&&Q`<text class="node-state" x=${i(e)+10} y=${u(e)+51}>${t}</text>`}
          </g>`})}
      </svg>
    </div>
    ${l>0&&Q`<p class="muted small">${l} more steps are not drawn.</p>`}
  </figure>`}function Ot(){return{name:null,kind:null,status:"connecting",steps:new Map,result:null,ended:!1}}function jt({id:e,pipelines:t}){const[n,s]=oe(Ot),[r,a]=oe(null);le(()=>{const t=new AbortController;return s(Ot()),a(null),xe(`/v1/runs/${encodeURIComponent(e)}/events`,(e,t)=>{let n;try{n=JSON.parse(t)}catch{return}s(t=>function(e,t,n){if("run.started"===t)return{...e,name:n.name??null,kind:n.kind??null,status:n.status??"running"};if("step.started"===t&&"string"==typeof n.step){const t=new Map(e.steps);return t.set(n.step,{...t.get(n.step)??{},state:"running"}),{...e,steps:t}}if("step.done"===t&&"string"==typeof n.id){const t=new Map(e.steps);return t.set(n.id,{state:(s=n.status,"ok"===s||"partial"===s?"done":"failed"===s?"failed":"skipped"),status:n.status,reason:n.reason??null,totalMs:n.total_ms}),{...e,steps:t}}var s;return"run.done"===t?{...e,status:n.status??e.status,result:n.result??null,ended:!0}:e}(t,e,n))},{signal:t.signal}).then(()=>s(e=>({...e,ended:!0}))).catch(e=>!t.signal.aborted&&a(e)),()=>t.abort()},[e]);const o=Q`<p><a href="#/pipelines">← Pipelines</a></p>`,l=Q`<a href=${`#/runs/${encodeURIComponent(e)}`}>the run's answer and calls</a>`;if(r instanceof ve&&"run_not_found"===r.code)return Q`<section>${o}<p class="note">This server no longer holds run <code>${e}</code> in memory, so
      its events are gone; see ${l} if it was stored.</p></section>`;if(r)return Q`<section>${o}<${Oe} error=${r} /></section>`;if(n.kind&&"pipeline"!==n.kind)return Q`<section>${o}<p class="note">Run <code>${e}</code> is not a pipeline's: see ${l}.</p></section>`;const i=n.name&&t?.find(e=>e.name===n.name),u=(i?.steps??[]).slice(0,200),c=new Map(u.map(e=>[e.id,n.steps.get(e.id)?.state??"waiting"]));return Q`<section aria-labelledby="watch-title">
    ${o}
    <div class="view-head">
      <h1 id="watch-title">${n.name??"A run"} <span class="muted">pipeline run</span></h1>
      <${Le} status=${n.status} />
    </div>
    <p class="muted small"><code>${e}</code> · ${l}</p>
    ${!n.name&&Q`<p class="muted" role="status">Connecting…</p>`}
    ${n.name&&!i&&t&&Q`<p class="note">This server's config has no pipeline
      ${n.name} any more (reloaded?), so its graph cannot be drawn.</p>`}
    ${i&&Q`<${Lt} id="run-dag" pipeline=${i} states=${c} />
      <ul class="dag-key" aria-label="Colours">
        ${["waiting","running","done","failed","skipped"].map(e=>Q`<li class=${`state-${e}`}><span class="swatch"></span>${e}</li>`)}
      </ul>
      <table class="numbers steps">
        <caption class="visually-hidden">The run's steps</caption>
        <thead><tr><th scope="col">Step</th><th scope="col">Asks</th><th scope="col">State</th>
          <th scope="col" class="num">Time</th><th scope="col">Why</th></tr></thead>
        <tbody>${u.map(e=>{const t=n.steps.get(e.id);return Q`<tr data-step=${e.id}>
            <th scope="row">${e.id}</th>
            <td>${Ut(e)}</td>
            <td>${c.get(e.id)}${t?.status&&"ok"!==t.status&&` (${t.status})`}</td>
            <td class="num">${void 0!==t?.totalMs?Re(t.totalMs):""}</td>
            <td>${t?.reason??""}</td>
          </tr>`})}</tbody>
      </table>`}
    ${n.result&&Q`<h2>Output</h2>
      ${n.result.output?Q`<pre class="text answer">${n.result.output}</pre>`:Q`<p class="muted">No output.</p>`}
      <p class="muted small">Cost ${Ie(n.result.cost_usd)} · ${Re(n.result.total_ms)}</p>`}
    ${n.ended&&!n.result&&Q`<p class="note">The event stream ended before the run did.</p>`}
  </section>`}function Ht({name:e}){const[t,n]=oe(null),[s,r]=oe(null);le(()=>{let t=!0;return n(null),r(null),ye("/v1/runs",{target:e,target_kind:"pipeline",limit:20}).then(e=>t&&n(e.data??[])).catch(e=>t&&r(e)),()=>{t=!1}},[e]);const a=s instanceof ve&&"store_disabled"===s.code;return Q`<section aria-labelledby="recent-title">
    <h2 id="recent-title">Recent runs</h2>
    ${a?Q`<p class="muted">This server keeps no history (<code>store: none</code>).</p>`:s?Q`<${Oe} error=${s} />`:null===t?Q`<p class="muted" role="status">Loading…</p>`:0===t.length?Q`<p class="muted">No stored runs of ${e} yet.</p>`:Q`<table class="runs pipeline-runs">
                <thead><tr>
                  <th scope="col">Started</th><th scope="col">Status</th><th scope="col" class="num">Wall time</th>
                  <th scope="col" class="num">Cost</th><th scope="col">Steps</th>
                </tr></thead>
                <tbody>${t.map(e=>{return Q`<tr>
                  <td><a href=${`#/runs/${encodeURIComponent(e.id)}`}>${Ae(e.started_ms)}</a></td>
                  <td><${Le} status=${e.status} /></td>
                  <td class="num">${Re("number"==typeof e.wall_us?e.wall_us/1e3:null)}</td>
                  <td class="num">${Ie(e.cost_usd)}</td>
                  <td><a href=${t=e.id,`#/pipelines/run/${encodeURIComponent(t)}`} aria-label=${`steps of the run at ${Ae(e.started_ms)}`}>steps</a></td>
                </tr>`;var t})}</tbody>
              </table>`}
  </section>`}function Ft({pipeline:e}){const t=(e.steps??[]).slice(0,200);return Q`<section aria-labelledby="pipeline-title">
    <h2 id="pipeline-title">${e.name}</h2>
    <dl class="figures">
      <div><dt>Inputs</dt><dd>${(e.inputs??[]).join(", ")||"none"}</dd></div>
      <div><dt>Output</dt><dd>${e.output}</dd></div>
      <div><dt>Steps</dt><dd>${(e.steps??[]).length}</dd></div>
    </dl>
    <${Lt} id="pipeline-dag" pipeline=${e} />
    <details>
      <summary>The steps</summary>
      <table class="numbers">
        <thead><tr><th scope="col">Step</th><th scope="col">Asks</th><th scope="col">Needs</th></tr></thead>
        <tbody>${t.map(e=>Q`<tr>
          <th scope="row">${e.id}</th><td>${Ut(e)}</td><td>${(e.needs??[]).join(", ")||"–"}</td>
        </tr>`)}</tbody>
      </table>
    </details>
    <p class="muted small">
      Start a run with <code>POST /v1/runs {"pipeline": "${e.name}", "inputs": {…}}</code>${" "}
      and open <code>#/pipelines/run/ID</code> to watch its steps.
    </p>
    <${Ht} name=${e.name} />
  </section>`}function Dt({rest:e}){const t=function(e){const t=(e??"").split("/").filter(Boolean).map(e=>{try{return decodeURIComponent(e)}catch{return e}});return 2===t.length&&"run"===t[0]?{run:t[1]}:1===t.length?{name:t[0]}:{}}(e),[n,s]=oe(null),[r,a]=oe(null);if(le(()=>{let e=!0;return ye("/v1/pipelines").then(t=>e&&s(t.data??[])).catch(t=>e&&a(t)),()=>{e=!1}},[]),t.run)return Q`<${jt} id=${t.run} pipelines=${n} />`;const o=n&&(n.find(e=>e.name===t.name)??(t.name?null:n[0]));return Q`<section aria-labelledby="pipelines-title">
    <div class="view-head"><h1 id="pipelines-title">Pipelines</h1></div>
    ${r&&Q`<${Oe} error=${r} />`}
    ${null===n&&!r&&Q`<p class="muted" role="status">Loading…</p>`}
    ${0===n?.length&&Q`<p class="muted">This server has no pipelines: add a
      <code>pipelines:</code> section to its config (docs/pipelines.md).</p>`}
    ${n?.length>0&&Q`<nav aria-label="Pipelines" class="pipeline-list">
      ${n.map(e=>{return Q`<a href=${t=e.name,`#/pipelines/${encodeURIComponent(t)}`}
        aria-current=${o?.name===e.name?"page":void 0}>${e.name}</a>`;var t})}
    </nav>`}
    ${n&&t.name&&!o&&Q`<p class="note error" role="alert">No pipeline is named ${t.name}.</p>`}
    ${o&&Q`<${Ft} key=${o.name} pipeline=${o} />`}
  </section>`}function Et({label:e,value:t,limit:n}){const s="number"==typeof n&&n>0,r="number"==typeof t?t:0;return Q`<div class="gauge">
    <dt>${e}</dt>
    <dd>
      ${s?Q`<meter min="0" max=${n} low=${.7*n} high=${.9*n} optimum="0" value=${Math.min(r,n)}
            aria-label=${`${e}: ${r} of ${n}`}></meter>`:Q`<span class="meter-none"></span>`}
      <span class="num">${r}${s?` / ${n}`:Q` <span class="muted">(no limit)</span>`}</span>
    </dd>
  </div>`}function Wt({label:e,children:t}){return Q`<div class="gauge"><dt>${e}</dt><dd>${t}</dd></div>`}function Bt(e){const t=e?.per_ms;return t?` per ${{1e3:"second",6e4:"minute",36e5:"hour",864e5:"day"}[t]??Re(t)}`:""}function Kt(e){return"number"==typeof e?String(e):Q`<span class="muted">not said</span>`}function Jt({breaker:e}){const t=e?.state??"unknown";return Q`<span class=${`badge breaker-${t}`}>${t.replace("_"," ")}</span>`}function Vt({n:e,name:t,providers:n}){const s=n[0];return Q`<section class="group" aria-labelledby=${`group-${e}`}>
    <h2 id=${`group-${e}`}>${t} <span class="muted small">limit group</span></h2>
    <dl class="gauges">
      <${Et} label="In flight" value=${s.in_flight} limit=${s.concurrency} />
      <${Wt} label="Queued"><span class="num">${s.queued??0}</span><//>
      <${Et} label=${`Requests${Bt(s.requests)}`} value=${s.requests?.in_window} limit=${s.requests?.limit} />
      <${Et} label=${`Tokens${Bt(s.tokens)}`} value=${s.tokens?.in_window} limit=${s.tokens?.limit} />
      <${Wt} label="Vendor says requests left">${Kt(s.server_requests_left)}<//>
      <${Wt} label="Vendor says tokens left">${Kt(s.server_tokens_left)}<//>
      <${Wt} label="Cooldown left">${s.cooldown_left_ms>0?Re(s.cooldown_left_ms):"none"}<//>
    </dl>
    <table class="providers">
      <thead><tr>
        <th scope="col">Provider</th><th scope="col">Kind · model</th><th scope="col">Breaker</th>
        <th scope="col" class="num">Failures in a row</th><th scope="col">Note</th>
      </tr></thead>
      <tbody>${n.map(e=>Q`<tr data-provider=${e.name}>
        <th scope="row">${e.name}${!e.running&&Q` <span class="muted small">(not running)</span>`}</th>
        <td>${e.kind}${e.model&&Q`<span class="muted"> · ${e.model}</span>`}</td>
        <td><${Jt} breaker=${e.breaker} /></td>
        <td class="num">${e.breaker?.consecutive_failures??0}</td>
        <td>${e.note??""}</td>
      </tr>`)}</tbody>
    </table>
  </section>`}function zt({runs:e,error:t}){const n=t instanceof ve&&"store_disabled"===t.code;return Q`<section aria-labelledby="failures-title">
    <h2 id="failures-title">Recent failures</h2>
    ${n?Q`<p class="muted">This server keeps no history (<code>store: none</code>).</p>`:t?Q`<${Oe} error=${t} />`:null===e?Q`<p class="muted" role="status">Loading…</p>`:0===e.length?Q`<p class="muted">No failed runs.</p>`:Q`<table class="failures">
                <thead><tr><th scope="col">Started</th><th scope="col">Target</th><th scope="col">Status</th></tr></thead>
                <tbody>${e.map(e=>Q`<tr>
                  <td><a href=${`#/runs/${encodeURIComponent(e.id)}`}>${Ae(e.started_ms)}</a></td>
                  <td>${e.target}<span class="muted"> ${e.target_kind}</span></td>
                  <td><${Le} status=${e.status} /></td>
                </tr>`)}</tbody>
              </table>`}
  </section>`}function Qt(){const[e,t]=oe(null),[n,s]=oe(null),[r,a]=oe({runs:null,error:null}),[o,l]=oe(0);return le(()=>{let e=!0,n=0,r=0;const o=async()=>{r++%5==0&&ye("/v1/runs",{status:"failed",limit:10}).then(t=>e&&a({runs:t.data??[],error:null})).catch(t=>e&&a({runs:null,error:t}));try{const n=await ye("/v1/providers");if(!e)return;t(n.data??[]),s(null),l(Date.now())}catch(t){if(!e)return;if(s(t),t instanceof ge)return}e&&(n=setTimeout(o,2e3))};return o(),()=>{e=!1,clearTimeout(n)}},[]),Q`<section aria-labelledby="providers-title">
    <div class="view-head">
      <h1 id="providers-title">Providers and limits</h1>
      <span class="muted small">${o?`updated ${Ae(o).slice(11)}, every 2 s`:""}</span>
    </div>
    ${n&&Q`<${Oe} error=${n} />`}
    ${null===e&&!n&&Q`<p class="muted" role="status">Loading…</p>`}
    ${0===e?.length&&Q`<p class="muted">This server has no providers.</p>`}
    ${e&&function(e){const t=new Map;for(const n of e){const e=n.limit_group||n.name;t.has(e)||t.set(e,[]),t.get(e).push(n)}return[...t]}(e).map(([e,t],n)=>Q`<${Vt} key=${e} n=${n} name=${e} providers=${t} />`)}
    <${zt} runs=${r.runs} error=${r.error} />
  </section>`}const Yt=864e5,Gt=[7,30];function Xt(e){return new Date(e).toISOString().slice(5,10)}function Zt(e){return`${(100*e).toFixed(e>0&&e<.1?1:0)}%`}function en(e,t){return[...new Set(e.map(e=>e[t]))]}function tn(e,t){const n=new Map;for(const s of e){const e=`${s.bucket_ms}\0${s.group}`;n.set(e,(n.get(e)??0)+(Number(s[t])||0))}return(e,t)=>n.get(`${e}\0${t}`)??0}function nn({rows:e,range:t}){const n=function(e){if(!e.some(e=>"number"==typeof e.voted))return null;const t=new Map;for(const n of e){const e=t.get(n.group)??{agreed:0,voted:0};e.agreed+=Number(n.agreed)||0,e.voted+=Number(n.voted)||0,t.set(n.group,e)}return t}(e);if(!n)return null;const s=[...n.keys()].filter(e=>n.get(e).voted>0);return Q`<${Pe} id="chart-agreement" title="How often each member agreed with the ensemble's answer"
    groupLabel="Provider" groups=${s} bars=${[{label:"agreed"}]} max=${1} format=${Zt}
    value=${e=>n.get(e).agreed/n.get(e).voted}
    empty=${`No votes in the last ${t} days.`} note="agreed / voted, in ensembles that took a vote" />`}function sn(){const[e,t]=oe(7),[n,s]=oe(null),[r,a]=oe(null),[o,l]=oe(0);le(()=>{let t=!0;const n=Date.now(),r=n-e*Yt;return a(null),Promise.all([ye("/v1/stats",{by:"provider",per:"day",since:r}),ye("/v1/stats",{by:"key",per:"day",since:r})]).then(([a,o])=>t&&s({range:e,nowMs:n,since:a.since_ms??r,providers:a.data??[],keys:o.data??[]})).catch(e=>t&&a(e)),()=>{t=!1}},[e,o]);const i=r instanceof ve&&"store_disabled"===r.code,u=Q`<div class="view-head">
    <h1 id="stats-title">Stats</h1>
    <div class="view-actions">
      <div class="range" role="group" aria-labelledby="range-label">
        <span id="range-label" class="muted small">Range</span>
        ${Gt.map(n=>Q`<button type="button" class="toggle" aria-pressed=${e===n?"true":"false"}
          onClick=${()=>t(n)}>${n} days</button>`)}
      </div>
      <button type="button" onClick=${()=>l(e=>e+1)}>Refresh</button>
    </div>
  </div>`;if(i)return Q`<section aria-labelledby="stats-title">${u}
      <p class="note">This server keeps no history (<code>store: none</code>), so it has no stats: start it
        with <code>--store runs.db</code> or a <code>store:</code> section.</p>
    </section>`;if(r)return Q`<section aria-labelledby="stats-title">${u}<${Oe} error=${r} /></section>`;if(!n)return Q`<section aria-labelledby="stats-title">${u}<p class="muted" role="status">Loading…</p></section>`;const c=function(e,t){const n=[];for(let s=Math.floor(e/Yt)*Yt;s<=t&&n.length<400;s+=Yt)n.push({key:s,label:Xt(s)});return n}(n.since,n.nowMs),d=n.providers,p=en(d,"group"),m=n.keys.map(e=>({...e,group:e.group||"(no key)"})),$=en(m,"group"),h=tn(d,"cost_usd"),_=tn(m,"cost_usd"),f=d.reduce((e,t)=>e+(Number(t.cost_usd)||0),0),g=d.reduce((e,t)=>e+(t.calls??0),0),v=function(e){const t=new Map,n=new Map,s=new Set;for(const r of e){t.set(r.bucket_ms,(t.get(r.bucket_ms)??0)+(r.calls??0));for(const[e,t]of Object.entries(r.failures_by_kind??{})){s.add(e);const a=`${r.bucket_ms}\0${e}`;n.set(a,(n.get(a)??0)+t)}}return{kinds:[...s].sort(),rate:(e,s)=>t.get(e)?(n.get(`${e}\0${s}`)??0)/t.get(e):0}}(d),b=function(e){const t=new Map;for(const n of e){if(!n.calls||"number"!=typeof n.p50_ms)continue;const e=t.get(n.group)??{calls:0,p50:0,p95:0};e.calls+=n.calls,e.p50+=n.p50_ms*n.calls,e.p95+=(n.p95_ms??n.p50_ms)*n.calls,t.set(n.group,e)}return new Map([...t].map(([e,t])=>[e,[t.p50/t.calls,t.p95/t.calls]]))}(d),y=n.range,w=`No calls in the last ${y} days.`;return Q`<section aria-labelledby="stats-title">
    ${u}
    <p class="stats-total">In the last ${y} days: <strong class="cost">${Ie(f)}</strong> spent on
      ${" "}${g} calls to ${p.length} providers.</p>
    <div class="charts">
      <${qe} id="chart-spend-provider" title="Spend per day by provider" columns=${c}
        series=${p} value=${(e,t)=>h(e.key,t)} format=${Ie}
        empty=${w} note="UTC days; priced providers only" />
      <${qe} id="chart-spend-key" title="Spend per day by API key" columns=${c}
        series=${$} value=${(e,t)=>_(e.key,t)} format=${Ie}
        empty=${w} note="(no key): the server's token, or loopback without one" />
      <${qe} id="chart-failures" title="Failure rate per day by kind" columns=${c}
        series=${v.kinds} value=${(e,t)=>v.rate(e.key,t)} format=${Zt}
        empty=${g?`No failures in the last ${y} days.`:w} note="failed calls / all calls of the day" />
      <${Pe} id="chart-latency" title="Latency per provider" groupLabel="Provider"
        groups=${[...b.keys()]} bars=${[{label:"p50"},{label:"p95"}]}
        value=${(e,t)=>b.get(e)?.[t]} format=${Re} empty=${w}
        note="over several days: the daily values weighted by calls" />
      <${nn} rows=${d} range=${y} />
    </div>
  </section>`}function rn(){const e=/^#\/runs\/([^/]+)$/.exec(location.hash);if(e)return{view:"run",id:decodeURIComponent(e[1])};const t=/^#\/live(?:\/([^/]+))?$/.exec(location.hash);if(t)return{view:"live",id:t[1]?decodeURIComponent(t[1]):""};if("#/playground"===location.hash)return{view:"playground"};const n=/^#\/batches(?:\/([^/]+))?$/.exec(location.hash);if(n)return{view:"batches",id:n[1]?decodeURIComponent(n[1]):""};if(/^#\/stats\/?$/.test(location.hash))return{view:"stats"};if(/^#\/providers\/?$/.test(location.hash))return{view:"providers"};const s=/^#\/pipelines(\/.*)?$/.exec(location.hash);return s?{view:"pipelines",rest:s[1]??""}:{view:"history"}}function an({message:e,onKey:t}){const n=ie(null);le(()=>n.current?.focus(),[]);return Q`<form class="key-form" onSubmit=${e=>{e.preventDefault();const s=n.current.value.trim();n.current.value="",s&&t(s)}} aria-labelledby="key-title">
    <h2 id="key-title">This server needs a key</h2>
    <p>${e}</p>
    <label>Token or API key
      <input ref=${n} type="password" name="tutti-key" autocomplete="off" spellcheck="false" required />
    </label>
    <button type="submit">Use this key</button>
    <p class="muted small">The key stays in this tab's memory only: not in the address, storage or
      cookies. Reloading the page forgets it.</p>
  </form>`}!function(n,s,r){var a,o,l,i;s==document&&(s=document.documentElement),t.__&&t.__(n,s),o=(a="function"==typeof r)?null:r&&r.__k||s.__k,l=[],i=[],L(s,n=(!a&&r||s).__k=b(w,null,[n]),o||$,$,s.namespaceURI,!a&&r?[r]:o?null:s.firstChild?e.call(s.childNodes):null,l,!a&&r?r:o?o.__e:s.firstChild,a,i),j(l,n,i),n.props.children=null}(Q`<${function(){const[e,t]=oe(rn()),[n,s]=oe(null),[r,a]=oe(0);return le(()=>{const e=()=>t(rn());addEventListener("hashchange",e);const n=(r=e=>s(be()?`That key was refused: ${e}`:e),fe.add(r),()=>fe.delete(r));var r;return()=>{removeEventListener("hashchange",e),n()}},[]),Q`<div class="shell">
    <header class="top">
      <a class="brand" href="#/runs">tutti</a>
      <nav aria-label="Views">
        <a href="#/live" aria-current=${"live"===e.view?"page":void 0}>Live</a>
        <a href="#/playground" aria-current=${"playground"===e.view?"page":void 0}>Playground</a>
        <a href="#/runs" aria-current=${"history"===e.view||"run"===e.view?"page":void 0}>History</a>
        <a href="#/stats" aria-current=${"stats"===e.view?"page":void 0}>Stats</a>
        <a href="#/providers" aria-current=${"providers"===e.view?"page":void 0}>Providers</a>
        <a href="#/pipelines" aria-current=${"pipelines"===e.view?"page":void 0}>Pipelines</a>
        <a href="#/batches" aria-current=${"batches"===e.view?"page":void 0}>Batches</a>
      </nav>
      <span class="muted small">${be()?"key in memory":""}</span>
    </header>
    <main>
      ${null!==n&&Q`<${an} message=${n} onKey=${e=>{!function(e){_e=e||null}(e),s(null),a(e=>e+1)}} />`}
      ${"run"===e.view?Q`<${bt} key=${`${e.id}:${r}`} id=${e.id} />`:"live"===e.view?Q`<${Nt} run=${e.id} epoch=${r} />`:"playground"===e.view?Q`<${It} epoch=${r} />`:"batches"===e.view?Q`<${Ee} key=${`${e.id}:${r}`} id=${e.id} />`:"stats"===e.view?Q`<${sn} key=${r} />`:"providers"===e.view?Q`<${Qt} key=${r} />`:"pipelines"===e.view?Q`<${Dt} key=${r} rest=${e.rest} />`:Q`<${ze} key=${r} />`}
    </main>
  </div>`}} />`,document.getElementById("app"))}();
